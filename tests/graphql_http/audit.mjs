// The graphql-http conformance audit (GraphQL over HTTP spec) against one server URL.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
// Prints one JSON line per audit ({id, name, status, reason?, status_code?}) so the
// Python test can name every audit that did not pass; exits 2 on a usage error.
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs <graphql endpoint URL>");
  process.exit(2);
}
for (const result of await auditServer({ url })) {
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    line.reason = result.reason;
    line.status_code = result.response.status;
  }
  console.log(JSON.stringify(line));
}
