"""The query path end to end: a mutation becomes a Kafka event, then a row, then an answer.

Two API instances -- one in this process (create_app under Litestar's test client), one a
real ``python -m api`` uvicorn subprocess -- share the stack with a sink worker
subprocess. Both serve what the mutations wrote, and both stop serving a changed or
deleted posting within 1 s of the worker's commit (invariant 6, docs/architecture.md),
although each had the old version cached.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from schemas.domain import Posting, decode_event
from schemas.settings import Settings
from schemas.topics import CONTENT_TYPE_EVENT
from tests.support.api import (
    DELETE,
    POSTING,
    SEARCH_IDS,
    Api,
    app_settings,
    reset_redis,
    running_api,
    wait_until,
)
from tests.support.corpus import BY_ID, CORPUS
from tests.support.provision import PUBLISH_HEADERS, free_port
from tests.support.sink import (
    ROOT,
    Topics,
    WorkerProcess,
    make_topics,
    read_all,
    reset_table,
)

pytestmark = pytest.mark.integration

FRESHNESS_S = 1.0
QUERY = "python backend developer"
IDS = ["py-1", "py-2", "py-3", "py-4", "fe-1", "ds-1", "ops-1", "med-1", "fin-1", "log-1"]


class HttpApi:
    """The subprocess instance, spoken to over real HTTP."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        doc: dict[str, Any] = response.json()
        return doc


async def row(conn: asyncpg.Connection, posting_id: str) -> tuple[int, bool] | None:
    record = await conn.fetchrow("SELECT version, deleted FROM postings WHERE id = $1", posting_id)
    return None if record is None else (record["version"], record["deleted"])


async def committed_at(conn: asyncpg.Connection, posting_id: str, state: tuple[int, bool]) -> float:
    """The monotonic time the row is first seen in ``state`` (polled every 10 ms)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await row(conn, posting_id) == state:
            return time.monotonic()
        await asyncio.sleep(0.01)
    raise AssertionError(f"{posting_id} never reached {state}")


class ApiProcess:
    """``python -m api`` on a free port, with the test's topics."""

    def __init__(self, topics: Topics, log_dir: Path) -> None:
        self.port = free_port()
        self.log_path = log_dir / "api-subprocess.log"
        self.env = topics.env(
            JOBSTREAM_API_PORT=str(self.port),
            JOBSTREAM_EMBEDDER="minilm",
            JOBSTREAM_LOG_LEVEL="INFO",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiProcess:
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api"], cwd=ROOT, env=self.env, stdout=out, stderr=out
        )
        return self

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise
        return self.proc.returncode

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    await reset_table(stack)
    await reset_redis(stack)
    return await make_topics(stack, partitions=3)


@pytest.fixture
async def http_api(topics: Topics, tmp_path: Path) -> AsyncIterator[HttpApi]:
    proc = ApiProcess(topics, tmp_path).start()
    base = f"http://127.0.0.1:{proc.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:

            async def healthy() -> bool:
                assert proc.proc is not None
                assert proc.proc.poll() is None, proc.tail()
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, timeout=60, what="python -m api to serve", interval=0.2)
            yield HttpApi(client)
    finally:
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it (exit -15).
        assert proc.stop() in (0, -signal.SIGTERM), proc.tail()
        assert "Application shutdown complete" in proc.tail()


async def test_mutations_reach_both_instances_and_changes_are_dropped_within_1s(
    stack: Settings, topics: Topics, tmp_path: Path, http_api: HttpApi
) -> None:
    worker = WorkerProcess(topics, tmp_path).start()
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        async with running_api(app_settings(stack, topics)) as local:
            await _scenario(local, http_api, conn, topics, worker)
    finally:
        await conn.close()
        worker.terminate()


async def _scenario(
    local: Api, remote: HttpApi, conn: asyncpg.Connection, topics: Topics, worker: WorkerProcess
) -> None:
    # 1. mutation -> Kafka event -> row -> answer (from both instances)
    for posting_id in IDS:
        result = await local.publish(BY_ID[posting_id].input())
        assert result == {"accepted": {"id": posting_id, "version": 1}, "errors": []}

    async def landed() -> bool:
        return int(await conn.fetchval("SELECT count(*) FROM postings")) == len(IDS)

    await wait_until(landed, timeout=90, what="the rows", interval=0.1)
    local_ids = await local.search_ids(QUERY, first=len(IDS))
    remote_doc = await remote.raw(SEARCH_IDS, {"query": QUERY, "first": len(IDS)})
    remote_ids = [e["node"]["id"] for e in remote_doc["data"]["search"]["edges"]]
    assert local_ids == remote_ids
    assert set(local_ids[:3]) <= {"py-1", "py-2", "py-3", "py-4"}, local_ids

    # What the mutation wrote is a plain keyed event, exactly as the gateway writes them.
    records = await read_all(topics.settings, topics.postings, expect=len(IDS), timeout=20)
    record = next(r for r in records if r.key == b"py-1")
    headers = dict(record.headers)
    assert headers["content-type"] == CONTENT_TYPE_EVENT.encode()
    assert headers["producer-id"] == b"api"
    event = decode_event(record.key, record.value, dim=384)
    assert isinstance(event, Posting)
    assert event.title == BY_ID["py-1"].title
    assert event.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert event.producer_id == "api"

    # 2. both instances cache v1 (posting by id and the search page)
    for _ in range(2):
        assert (await local.gql(POSTING, {"id": "py-1"}))["posting"]["version"] == 1
        assert (await remote.raw(POSTING, {"id": "py-1"}))["data"]["posting"]["version"] == 1
        await local.search_ids(QUERY, first=len(IDS))
        await remote.raw(SEARCH_IDS, {"query": QUERY, "first": len(IDS)})
    stats = (await local.gql("query { cacheStats { levels { level hits } } }"))["cacheStats"]
    assert stats["levels"][0]["hits"] > 0

    # 3. a new version lands: both drop v1 within 1 s of the commit
    changed = BY_ID["py-1"].input(version=2, title="Principal Python Backend Engineer")
    result = await local.publish(changed)
    assert result["accepted"] == {"id": "py-1", "version": 2}
    commit = await committed_at(conn, "py-1", (2, False))

    async def local_v2() -> bool:
        one = (await local.gql(POSTING, {"id": "py-1"}))["posting"]
        data = await local.gql(SEARCH_IDS, {"query": QUERY, "first": len(IDS)})
        versions = {e["node"]["id"]: e["node"]["version"] for e in data["search"]["edges"]}
        return bool(one["version"] == 2 and versions.get("py-1") == 2)

    async def remote_v2() -> bool:
        one = (await remote.raw(POSTING, {"id": "py-1"}))["data"]["posting"]
        doc = await remote.raw(SEARCH_IDS, {"query": QUERY, "first": len(IDS)})
        versions = {e["node"]["id"]: e["node"]["version"] for e in doc["data"]["search"]["edges"]}
        return bool(one["version"] == 2 and versions.get("py-1") == 2)

    await _both_within(commit, local_v2, remote_v2, "v2 of py-1")
    assert (await local.gql(POSTING, {"id": "py-1"}))["posting"]["title"] == changed["title"]

    # 4. a delete lands: both stop serving it within 1 s of the commit
    for _ in range(2):
        await local.gql(POSTING, {"id": "py-2"})
        await remote.raw(POSTING, {"id": "py-2"})
    deleted = await local.gql(DELETE, {"id": "py-2", "version": 2}, PUBLISH_HEADERS)
    assert deleted["deletePosting"] == {"accepted": {"id": "py-2", "version": 2}, "errors": []}
    commit = await committed_at(conn, "py-2", (2, True))

    async def local_gone() -> bool:
        _, doc = await local.raw(POSTING, {"id": "py-2"})
        ids = await local.search_ids(QUERY, first=len(IDS))
        return bool(doc["data"]["posting"] is None and "py-2" not in ids)

    async def remote_gone() -> bool:
        doc = await remote.raw(POSTING, {"id": "py-2"})
        page = await remote.raw(SEARCH_IDS, {"query": QUERY, "first": len(IDS)})
        ids = [e["node"]["id"] for e in page["data"]["search"]["edges"]]
        return bool(doc["data"]["posting"] is None and "py-2" not in ids)

    await _both_within(commit, local_gone, remote_gone, "the delete of py-2")
    _, doc = await local.raw(POSTING, {"id": "py-2"})
    assert doc["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert worker.alive(), worker.tail()


async def _both_within(
    commit: float,
    local: Callable[[], Awaitable[bool]],
    remote: Callable[[], Awaitable[bool]],
    what: str,
) -> None:
    seen = await asyncio.gather(
        wait_until(local, timeout=10, what=f"{what} in-process", interval=0.02),
        wait_until(remote, timeout=10, what=f"{what} in the subprocess", interval=0.02),
    )
    delays = [round(t - commit, 3) for t in seen]
    print(f"{what}: dropped {delays} s after the commit (in-process, subprocess)")
    assert all(d <= FRESHNESS_S for d in delays), f"{what}: served stale for {delays}s"


def test_corpus_ids_exist() -> None:
    assert set(IDS) <= {doc.id for doc in CORPUS}
    assert os.path.exists(ROOT / "api" / "__main__.py")
