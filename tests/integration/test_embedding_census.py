"""Which embedding model serves, and how many live postings carry each (#12), on the real
stack: the API's /health and `jobstream status --json` report the same split, tombstones
are not counted, and /health serves a cached count that a background refresh renews.

The module owns ``postings`` while it runs (like test_search.py): it COPYs postings of
the hashing model, of another model and a few tombstones, the way the sink writes them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import asyncpg
import numpy as np
import pytest

from api.health import EmbeddingCensus
from gateway.generator import embedding_text, generate
from schemas.db.embedding_models import postings_by_model
from schemas.domain import from_json
from schemas.embedding import make_embedder
from schemas.settings import Settings
from streams.sink.writer import register_vector_bytes
from tests.support.api import app_settings, running_api
from tests.support.bench import COPY_COLUMNS, copy_rows
from tests.support.ops import cli
from tests.support.sink import make_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DIM = 384
EMBEDDER = make_embedder("hash", DIM)
OTHER_MODEL = "intfloat/another-model"
OURS, FOREIGN, TOMBSTONES = 40, 7, 3


async def _copy(conn: asyncpg.Connection, seed: int, n: int, model: str) -> list[str]:
    postings = [{**p, "id": f"census-{seed}-{i}"} for i, p in enumerate(generate(n, seed=seed))]
    vectors = EMBEDDER.embed([embedding_text(p) for p in postings], "passage")
    events = []
    for data, vector in zip(postings, vectors, strict=True):
        event = from_json(data)
        event.body.embedding = np.asarray(vector, dtype="<f4").tobytes()
        event.body.embedding_model = model
        events.append(event)
    await conn.copy_records_to_table(
        "postings", records=copy_rows(events, DIM), columns=list(COPY_COLUMNS)
    )
    return [p["id"] for p in postings]


async def _clean(conn: asyncpg.Connection) -> None:
    for (name,) in await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'postings'"
        " AND (indexdef ILIKE '%USING ivfflat%' OR indexdef ILIKE '%USING hnsw%')"
    ):
        await conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    await conn.execute("DELETE FROM vector_index")
    await conn.execute("TRUNCATE postings")


@pytest.fixture(scope="module")
async def conn(stack: Settings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.postgres_dsn)
    await register_vector_bytes(conn)
    await _clean(conn)
    ours = await _copy(conn, 11, OURS + TOMBSTONES, EMBEDDER.name)
    await _copy(conn, 12, FOREIGN, OTHER_MODEL)
    await conn.execute(
        "UPDATE postings SET deleted = true, embedding = NULL WHERE id = ANY($1::text[])",
        ours[:TOMBSTONES],
    )
    try:
        yield conn
    finally:
        await _clean(conn)
        await conn.close()


async def test_health_names_the_model_and_counts_live_postings_per_model(
    stack: Settings, conn: asyncpg.Connection
) -> None:
    topics = await make_topics(stack)
    async with running_api(app_settings(stack, topics, embedder="hash")) as api:
        body = (await api.client.get("/health")).json()
        embedding = body["embedding"]
        assert embedding["model"] == EMBEDDER.name
        assert embedding["postings_by_model"] == {EMBEDDER.name: OURS, OTHER_MODEL: FOREIGN}
        assert embedding["postings_of_other_models"] == FOREIGN
        assert body["status"] in ("ok", "degraded")

        # Cached: a posting landing now shows after the TTL, and probes stay fast.
        await _copy(conn, 13, 2, OTHER_MODEL)
        started = time.perf_counter()
        for _ in range(20):
            again = (await api.client.get("/health")).json()["embedding"]
        per_probe_ms = (time.perf_counter() - started) / 20 * 1000
        assert again["postings_by_model"][OTHER_MODEL] == FOREIGN
        assert per_probe_ms < 200, per_probe_ms
    await conn.execute("DELETE FROM postings WHERE id LIKE 'census-13-%'")


async def test_the_census_serves_the_last_count_and_refreshes_in_the_background(
    stack: Settings, conn: asyncpg.Connection
) -> None:
    pool = await asyncpg.create_pool(stack.postgres_dsn, min_size=1, max_size=2)
    census = EmbeddingCensus(pool, ttl_s=0.2)
    try:
        first, age = await census.counts()
        assert first == {EMBEDDER.name: OURS, OTHER_MODEL: FOREIGN}
        assert age is not None
        assert age < 1
        await _copy(conn, 14, 3, EMBEDDER.name)
        await asyncio.sleep(0.3)
        stale, _ = await census.counts()  # answered at once from the last count ...
        assert stale == first
        deadline = time.monotonic() + 10
        while (await census.counts())[0] == first:  # ... while a refresh runs
            assert time.monotonic() < deadline, "the census never refreshed"
            await asyncio.sleep(0.05)
        fresh, _ = await census.counts()
        assert fresh == {EMBEDDER.name: OURS + 3, OTHER_MODEL: FOREIGN}
        assert fresh == await postings_by_model(pool)
        index = "SELECT indexdef FROM pg_indexes WHERE indexname = 'postings_embedding_model'"
        assert "WHERE (NOT deleted)" in str(await conn.fetchval(index))  # migration 0006
    finally:
        await census.aclose()
        await pool.close()
        await conn.execute("DELETE FROM postings WHERE id LIKE 'census-14-%'")


async def test_status_reports_the_configured_model_and_the_split(
    stack: Settings, conn: asyncpg.Connection
) -> None:
    topics = await make_topics(stack)
    _code, out, err = await cli(topics, "status", "--json", JOBSTREAM_EMBEDDER="hash")
    rows = json.loads(out)
    row = next((r for r in rows if r["name"] == "embedding"), None)
    assert row is not None, f"no embedding row: {err}"
    assert row["extra"]["embedder"] == "hash"
    assert row["extra"]["model"] == EMBEDDER.name
    assert row["extra"]["postings_by_model"] == {EMBEDDER.name: OURS, OTHER_MODEL: FOREIGN}
    assert f"{OTHER_MODEL} {FOREIGN}" in row["detail"]
    assert "found by their words only" in row["detail"]
