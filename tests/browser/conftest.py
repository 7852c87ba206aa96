"""Browser-test fixtures: ``python -m api`` over HTTP on the corpus topics and worker of
tests/conftest.py, the API tests' fixed corpus published through GraphQL, and Debian's
chromium via Playwright.

Playwright's own browser downloads are never used (``playwright install`` is not run):
the tests launch ``/usr/bin/chromium`` (``JOBSTREAM_CHROMIUM`` to override) and fail
when it is absent, unless ``JOBSTREAM_SKIP_BROWSER_TESTS=1``: a missing browser must
not pass unnoticed. Screenshots go to tests/browser/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import PUBLISH
from tests.support.corpus import CORPUS
from tests.support.provision import PUBLISH_HEADERS, free_port
from tests.support.sink import Topics, WorkerProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("JOBSTREAM_CHROMIUM", "/usr/bin/chromium")
# As root and on a machine with no network: no sandbox, and nothing that phones home
# (without these, chromium hangs on refused connections).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def base_url(
    topics: Topics, worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``python -m api`` with the corpus landed; its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("browser-api") / "api.log"
    env = topics.env(JOBSTREAM_API_PORT=str(port), JOBSTREAM_EMBEDDER="minilm")
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:

            def healthy() -> bool:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                try:
                    return client.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            _wait(healthy, 60, "python -m api")
            for doc in CORPUS:
                body = client.post(
                    "/graphql",
                    json={"query": PUBLISH, "variables": {"input": doc.input()}},
                    headers=PUBLISH_HEADERS,
                ).json()
                assert body["data"]["publishPosting"]["errors"] == [], body
            _wait(
                lambda: client.get("/web/count").json()["count"] == len(CORPUS),
                90,
                "the corpus to land",
            )
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Any]:
    """Headless chromium. Depends on base_url so the async stack fixtures run first:
    Playwright's sync API keeps an event loop running in this thread while it is open."""
    if not Path(CHROMIUM).exists():
        message = (
            f"no chromium at {CHROMIUM}: `make test` installs Debian's chromium as root "
            "(infra/bootstrap.sh --chromium), or set JOBSTREAM_CHROMIUM to a binary"
        )
        if os.environ.get("JOBSTREAM_SKIP_BROWSER_TESTS") == "1":
            pytest.skip(message)
        pytest.fail(message + "; JOBSTREAM_SKIP_BROWSER_TESTS=1 skips these tests")
    from playwright.sync_api import sync_playwright

    # launch() always starts from a fresh temporary profile (Playwright's own
    # --user-data-dir), removed when the browser closes.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="package")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
