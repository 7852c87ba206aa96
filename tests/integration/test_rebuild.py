"""``jobstream rebuild`` on the real stack: during a live stream, with searches answering.

A sink worker (subprocess) keeps the live table; a producer keeps writing new postings,
updates and deletes; the API answers searches in a loop; the rebuild runs in-process.
At the end the table equals the log's verdict row for row (id, version, content,
embedding), no search failed, and the swap left the canonical names behind.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest

from schemas.db.locks import AdvisoryLock
from schemas.domain import Posting, PostingDeleted
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings
from streams.ops import kafka as ops_kafka
from streams.ops.errors import AlreadyRunning, BrokerUnreachable, DatabaseUnreachable
from streams.rebuild import connect
from streams.rebuild.run import rebuild
from tests.support.api import app_settings, reset_redis, running_api
from tests.support.sink import (
    PYTHON,
    ROOT,
    Topics,
    WorkerProcess,
    deleted,
    encoded,
    make_topics,
    posting,
    produce,
    read_all,
    reset_table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration

SEARCH = """
query S($q: String!) { search(query: $q, first: 10) { edges { node { id version } } } }
"""


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    await reset_table(stack)
    await reset_redis(stack)
    return await make_topics(stack, partitions=3)


def settings_for(stack: Settings, topics: Topics, **extra: Any) -> Settings:
    values = {
        "topic_postings": topics.postings,
        "topic_dead_letters": topics.dead_letters,
        "topic_invalidations": topics.invalidations,
        "consumer_group": topics.group,
        "vector_index_min_rows": 1000,
        "embedder": "hash",
        **extra,
    }
    return Settings(**{**stack.model_dump(), **values})


@pytest.fixture
def worker(topics: Topics, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(
        topics,
        tmp_path,
        JOBSTREAM_VECTOR_INDEX_MIN_ROWS="1000",
        JOBSTREAM_VECTOR_INDEX_CHECK_S="1",
    ).start()
    yield proc
    if proc.alive():
        proc.terminate()


def events_batch(rng: np.random.Generator, start: int, n: int) -> list[Posting | PostingDeleted]:
    """New postings, plus updates and deletes of earlier ones (some out of order)."""
    out: list[Posting | PostingDeleted] = []
    for i in range(start, start + n):
        out.append(posting(f"p{i}", 1 + i % 3, rng))
        if i % 7 == 0 and i > 10:
            out.append(posting(f"p{i - 10}", 10 + i % 5, rng))  # an update
        if i % 11 == 0 and i > 20:
            out.append(deleted(f"p{i - 20}", 20))  # a tombstone beats everything before it
        if i % 13 == 0 and i > 30:
            out.append(posting(f"p{i - 30}", 2, rng))  # stale: arrives after higher versions
    return out


def verdict(events: list[Posting | PostingDeleted]) -> dict[str, Posting | PostingDeleted]:
    """Highest version per id, the first in log order on a tie (the sink's rules)."""
    best: dict[str, Posting | PostingDeleted] = {}
    for e in events:
        if e.id not in best or e.version > best[e.id].version:
            best[e.id] = e
    return best


async def rows(settings: Settings) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        found = await conn.fetch(
            "SELECT id, version, deleted, title, company, skills, description,"
            " embedding::real[] AS embedding FROM postings"
        )
    finally:
        await conn.close()
    return {r["id"]: dict(r) for r in found}


def assert_equal_to_log(
    table: dict[str, dict[str, Any]], expected: dict[str, Posting | PostingDeleted]
) -> None:
    assert set(table) == set(expected), (len(table), len(expected))
    for pid, event in expected.items():
        row = table[pid]
        assert (row["version"], row["deleted"]) == (event.version, event.deleted), pid
        if isinstance(event, Posting):
            assert (row["title"], row["company"]) == (event.title, event.company), pid
            assert tuple(row["skills"]) == tuple(event.skills), pid
            assert row["description"] == event.description, pid
            assert np.array_equal(np.asarray(row["embedding"], np.float32), event.embedding), pid
        else:
            assert (row["title"], row["embedding"]) == (None, None), pid


async def test_rebuild_during_a_live_stream_equals_the_log_and_search_never_fails(
    stack: Settings, topics: Topics, worker: WorkerProcess
) -> None:
    settings = settings_for(stack, topics)
    rng = np.random.default_rng(5)
    produced = events_batch(rng, 0, 6000)
    await produce(settings, topics.postings, encoded(produced))
    await wait_caught_up(topics, timeout=90)

    # The live table has a vector index, so the swap has an old one to replace.
    async def live_index() -> str | None:
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            name: str | None = await conn.fetchval("SELECT name FROM vector_index LIMIT 1")
            return name
        finally:
            await conn.close()

    deadline = time.monotonic() + 30
    while await live_index() is None:
        assert time.monotonic() < deadline, "the worker built no vector index"
        await asyncio.sleep(0.2)
    old_index = await live_index()

    stop = asyncio.Event()
    searches: list[float] = []
    failures: list[str] = []

    async def stream() -> None:
        n = 6000
        while not stop.is_set():
            batch = events_batch(rng, n, 40)
            await produce(settings, topics.postings, encoded(batch))
            produced.extend(batch)
            n += 40
            await asyncio.sleep(0.05)

    async with running_api(app_settings(stack, topics, embedder="hash")) as api:

        async def search_loop() -> None:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    status, doc = await api.raw(SEARCH, {"q": f"engineer {i % 50}"})
                    if status != 200 or doc.get("errors"):
                        failures.append(f"{status}: {doc}")
                    else:
                        searches.append(time.monotonic())
                except Exception as exc:
                    failures.append(repr(exc))
                await asyncio.sleep(0.01)

        producer_task = asyncio.create_task(stream())
        search_task = asyncio.create_task(search_loop())
        try:
            await asyncio.sleep(0.5)  # the stream and the searches are under way
            # The CLI in its own process, as an operator runs it (the test client blocks
            # this loop during each request, so an in-loop rebuild would be paused too).
            t0 = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                PYTHON,
                "-m",
                "infra",
                "rebuild",
                "--yes",
                "--json",
                "--catch-up-gap",
                "100",
                cwd=ROOT,
                env=topics.env(JOBSTREAM_VECTOR_INDEX_MIN_ROWS="1000"),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, errs = await asyncio.wait_for(proc.communicate(), 120)
            t1 = time.monotonic()
            assert proc.returncode == 0, errs.decode()[-3000:]
            report = json.loads(out)
            await asyncio.sleep(0.5)  # searches on the swapped table
        finally:
            stop.set()
            await asyncio.gather(producer_task, search_task)
        searches_during = [t for t in searches if t0 <= t <= t1]

    await wait_caught_up(topics, timeout=90)
    assert not failures, failures[:5]
    assert len(searches_during) >= 5, (len(searches_during), report)
    assert report["events_read"] >= 6000, report
    assert report["rows"] > 0, report
    assert report["swap_attempts"] >= 1, report
    assert report["seconds_loading"] > 0, report
    assert report["seconds_indexing"] > 0, report

    assert_equal_to_log(await rows(settings), verdict(produced))

    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        leftovers = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relname IN ('postings_rebuild','postings_retired')"
        )
        indexes = {
            r["relname"]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " WHERE i.indrelid = 'postings'::regclass"
            )
        }
        listed = [r["name"] for r in await conn.fetch("SELECT name FROM vector_index")]
    finally:
        await conn.close()
    assert leftovers == 0
    assert {"postings_pkey", "postings_posted_at", "postings_skills"} <= indexes, indexes
    assert listed == [report["vector_index"]]
    assert report["vector_index"] in indexes
    assert old_index not in indexes

    # The swap told every API cache to drop everything.
    records = await read_all(settings, topics.invalidations, expect=1, timeout=10)
    flushes = [
        e for e in (events_pb2.Invalidation.FromString(r.value) for r in records) if e.flush_all
    ]
    assert len(flushes) == 1


async def test_a_second_rebuild_is_refused_while_one_runs(stack: Settings, topics: Topics) -> None:
    settings = settings_for(stack, topics)
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.REBUILD)
        await conn.execute("CREATE TABLE postings_rebuild (id text)")  # the running one's
        with pytest.raises(AlreadyRunning, match="another rebuild is already running"):
            await rebuild(settings)
        assert await conn.fetchval("SELECT to_regclass('postings_rebuild')") is not None
    finally:
        await conn.execute("DROP TABLE IF EXISTS postings_rebuild")
        await conn.close()


async def test_unreachable_services_are_named(
    stack: Settings, topics: Topics, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both limits: the Kafka clients' (streams.ops.kafka) and PostgreSQL's (connect's copy).
    monkeypatch.setattr(connect, "CONNECT_TIMEOUT_S", 1.0)
    monkeypatch.setattr(ops_kafka, "CONNECT_TIMEOUT_S", 1.0)
    no_kafka = settings_for(stack, topics, kafka_bootstrap_servers="127.0.0.1:1")
    with pytest.raises(BrokerUnreachable, match=r"cannot reach Kafka at 127\.0\.0\.1:1"):
        await rebuild(no_kafka)
    no_db = settings_for(stack, topics, database_url="postgresql://postgres@127.0.0.1:1/jobstream")
    with pytest.raises(DatabaseUnreachable, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:1"):
        await rebuild(no_db)


async def test_a_flush_all_invalidation_empties_l1_and_l2_postings(stack: Settings) -> None:
    """What the swap's invalidation does to an API instance's cache (real Redis)."""
    from redis.asyncio import Redis

    from api.cache.codecs import JsonCodec
    from api.cache.tiered import POSTING, TieredCache

    await reset_redis(stack)
    redis = Redis.from_url(stack.redis_dsn)
    cache = TieredCache(stack, redis, namespace="rebuild-test")
    codec: JsonCodec[Any] = JsonCodec(lambda v: v, lambda d: d)
    loads: list[str] = []

    async def loader() -> dict[str, str]:
        loads.append("p1")
        return {"title": f"load {len(loads)}"}

    try:
        assert await cache.get_or_load(POSTING, "p1", loader, codec) == {"title": "load 1"}
        assert await cache.get_or_load(POSTING, "p1", loader, codec) == {"title": "load 1"}
        deadline = time.monotonic() + 5
        while not await redis.keys("rebuild-test:posting:*"):  # the L2 fill is asynchronous
            assert time.monotonic() < deadline, "no L2 entry"
            await asyncio.sleep(0.05)

        cache.apply_invalidation(events_pb2.Invalidation(flush_all=True), offset=0)
        deadline = time.monotonic() + 5
        while await redis.keys("rebuild-test:posting:*"):  # purged in the background
            assert time.monotonic() < deadline, "L2 postings not purged"
            await asyncio.sleep(0.05)
        assert await cache.get_or_load(POSTING, "p1", loader, codec) == {"title": "load 2"}
    finally:
        await cache.aclose()
        await redis.aclose()
