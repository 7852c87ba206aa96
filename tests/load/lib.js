// What every scenario shares: the API's address, the query list the Python benches read
// too (queries.json), a GraphQL POST, and the check that counts an answer as an error:
// not 200, or an error object in the body (a top-level GraphQL error, or a mutation's
// field error; publishPosting's empty `"errors":[]` is success). A substring test, as the
// Python closed loop does, so neither client spends its CPU parsing JSON.
import http from 'k6/http';
import { Rate } from 'k6/metrics';

export const BASE = (__ENV.BASE_URL || 'http://127.0.0.1:8000').replace(/\/$/, '');
export const QUERIES = JSON.parse(open('./queries.json'));
export const VUS = Number(__ENV.VUS || 32);
export const DURATION = __ENV.DURATION || '20s';

// GraphQL answers with an error in the body count here (http_req_failed sees only statuses).
export const graphqlErrors = new Rate('graphql_errors');

const JSON_HEADERS = { 'content-type': 'application/json' };

export function searchBody(text) {
  return JSON.stringify({
    query: QUERIES.document,
    variables: { q: text, m: QUERIES.mode },
  });
}

// POST a GraphQL body; count it in graphql_errors; return the response.
export function graphql(body, tags, headers) {
  const res = http.post(`${BASE}/graphql`, body, {
    headers: Object.assign({}, JSON_HEADERS, headers || {}),
    tags: tags || {},
  });
  const bad = res.status !== 200 || res.body === null || res.body.indexOf('"errors":[{') !== -1;
  graphqlErrors.add(bad, tags || {});
  return res;
}

// A threshold from the environment (make load can tighten or loosen one), else the default.
export function limit(name, fallback) {
  return Number(__ENV[name] || fallback);
}

// Thresholds every scenario has: its timed requests counted (k6 reports a tagged
// sub-metric only when a threshold names it; make load divides the count by the duration).
export const COUNTED = { 'http_reqs{phase:load}': ['count>0'] };
