"""Standard GraphQL clients against ``python -m api`` over real HTTP: the graphql-http
conformance audit (GraphQL over HTTP spec, run with node), the two response media types
and their status codes, and GraphiQL loading only from the API itself.

The audit is the npm package ``graphql-http`` pinned in tests/graphql_http/package-lock.json
(``make graphql-http-deps``: Debian's nodejs and npm through infra/bootstrap.sh --node,
then ``npm ci``); a missing node or package fails the test saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.settings import Settings
from tests.support.provision import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
AUDIT_DIR = ROOT / "tests" / "graphql_http"
GRAPHQL_RESPONSE = "application/graphql-response+json"
GRAPHQL_RESPONSE_AUDITS = {"22EB", "865D", "556A", "D586", "51FE", "74FF", "5E5B", "86EE"}
NO_NODE = (
    "{what} is missing: `make graphql-http-deps` (part of `make test`) installs Debian's "
    "nodejs and npm as root (infra/bootstrap.sh --node) and runs `npm ci` in tests/graphql_http"
)


@pytest.fixture(scope="module")
def base_url(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m api`` on a free port (the hashing embedder: no model to load)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("graphql-http") / "api.log"
    env = {**os.environ, "JOBSTREAM_API_PORT": str(port), "JOBSTREAM_EMBEDDER": "hash"}
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(base + "/health", timeout=5).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "python -m api did not answer in 60 s"
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_graphql_http_audit_passes_without_warnings(base_url: str) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail(NO_NODE.format(what="node"))
    if not (AUDIT_DIR / "node_modules" / "graphql-http").is_dir():
        pytest.fail(NO_NODE.format(what="tests/graphql_http/node_modules/graphql-http"))
    run = subprocess.run(
        [node, "audit.mjs", base_url + "/graphql"],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(results) >= 50, run.stdout  # the whole audit ran
    # The eight that warned before graphql-response+json was supported (issue #15) ran.
    assert {r["id"] for r in results} >= GRAPHQL_RESPONSE_AUDITS, run.stdout
    not_ok = [r for r in results if r["status"] != "ok"]
    assert not_ok == [], "\n".join(
        f"{r['status']} {r['id']} {r['name']}: {r['reason']} (HTTP {r['status_code']})"
        for r in not_ok
    )


def _post(base_url: str, query: str, accept: str | None, **body: Any) -> httpx.Response:
    headers = {"accept": accept} if accept else {}
    return httpx.post(base_url + "/graphql", json={"query": query, **body}, headers=headers)


@pytest.mark.parametrize(
    ("query", "variables", "status", "has_data"),
    [
        ("{ __typename }", None, 200, True),
        ("{", None, 400, False),  # does not parse
        ("{ noSuchField }", None, 400, False),  # does not validate
        ("query Q($id: ID!) { posting(id: $id) { id } }", {"id": None}, 400, False),  # coercion
        # an execution error: the request was valid, the answer has data (null) and errors
        ('{ posting(id: "not a valid id!") { id } }', None, 200, True),
    ],
)
def test_graphql_response_json_status_codes(
    base_url: str, query: str, variables: Any, status: int, has_data: bool
) -> None:
    body = {"variables": variables} if variables is not None else {}
    answer = _post(base_url, query, GRAPHQL_RESPONSE, **body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    document = answer.json()
    assert ("data" in document) is has_data, document
    if status == 400:
        assert document["errors"][0]["message"], document


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_application_json_keeps_its_behaviour(base_url: str, accept: str | None) -> None:
    """Without graphql-response+json, a document that does not validate is still a 200
    with errors in application/json, as before."""
    answer = _post(base_url, "{ noSuchField }", accept)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["errors"], answer.text


def test_both_accepted_prefers_graphql_response_json(base_url: str) -> None:
    accept = f"application/json;q=0.9, {GRAPHQL_RESPONSE}"
    answer = _post(base_url, "{ __typename }", accept)
    assert answer.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    answer = _post(base_url, "{ __typename }", f"application/json, {GRAPHQL_RESPONSE};q=0.5")
    assert answer.headers["content-type"].startswith("application/json")


def test_bad_requests_in_the_negotiated_type(base_url: str) -> None:
    """A body that is not JSON: a 400 error document, in the type the client accepts."""
    for accept, media_type in [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("text/plain", "application/json"),
    ]:
        answer = httpx.post(
            base_url + "/graphql",
            content=b'{"query": ',
            headers={"accept": accept, "content-type": "application/json"},
        )
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith(media_type)
        assert "not JSON" in answer.json()["errors"][0]["message"]


ASSET_REF = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', re.S)


def test_graphiql_loads_only_local_assets(base_url: str) -> None:
    page = httpx.get(base_url + "/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "unpkg.com" not in page.text
    refs = [ref for ref in ASSET_REF.findall(page.text) if not ref.startswith("data:")]
    assert len(refs) >= 7, refs  # react, react-dom, js-cookie, graphiql (2), explorer (2)
    for ref in refs:
        assert ref.startswith("/static/"), ref
        asset = httpx.get(base_url + ref)
        assert asset.status_code == 200, ref
        expected = "text/css" if ref.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(expected), ref
        assert "immutable" in asset.headers["cache-control"], ref
