"""The whole ingest path on the real stack: `jobstream produce` → gateway → Kafka → worker → rows.

10,000 generated postings go through the gRPC gateway and a Faust worker subprocess; every
one lands exactly once in PostgreSQL with the content the producer sent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from pgvector.asyncpg import register_vector

from gateway.generator import embedding_text, generate
from schemas.embedding import make_embedder
from schemas.settings import Settings
from tests.support.gateway import running_gateway
from tests.support.provision import free_port
from tests.support.sink import (
    WorkerProcess,
    make_topics,
    reset_table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration

N = 10_000
SEED = 11


async def test_10000_postings_from_the_producer_cli_land_once_with_their_content(
    stack: Settings, tmp_path: Path
) -> None:
    await reset_table(stack)
    topics = await make_topics(stack, partitions=6)
    port = free_port()
    worker = WorkerProcess(topics, tmp_path).start()
    try:
        settings = stack.model_copy(update={"topic_postings": topics.postings})
        async with running_gateway(settings, gateway_port=port):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "infra",
                "produce",
                "--generate",
                str(N),
                "--seed",
                str(SEED),
                "--embedder",
                "hash",
                "--json",
                "--producer-id",
                f"e2e-{uuid.uuid4().hex[:8]}",
                "--gateway",
                f"127.0.0.1:{port}",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=topics.env(),
            )
            out, err = await asyncio.wait_for(proc.communicate(), 240)
        assert proc.returncode == 0, err.decode()[-2000:]
        summary = json.loads(out)
        assert summary["accepted"] == N, summary
        assert summary["rejected"] == 0, summary

        await wait_caught_up(topics, timeout=120)
        assert worker.alive(), worker.tail()
    finally:
        worker.terminate()

    expected = {p["id"]: p for p in generate(N, seed=SEED)}
    vectors = make_embedder("hash").embed([embedding_text(p) for p in expected.values()])
    conn = await asyncpg.connect(stack.postgres_dsn)
    await register_vector(conn)
    try:
        rows = await conn.fetch(
            "SELECT id, version, deleted, title, company, city, country_code, skills,"
            " experience_min_years, experience_max_years, english_level, description,"
            " embedding FROM postings"
        )
    finally:
        await conn.close()

    assert len(rows) == N
    assert {r["id"] for r in rows} == set(expected)
    by_id = {r["id"]: r for r in rows}
    for i, (posting_id, sent) in enumerate(expected.items()):
        row = by_id[posting_id]
        assert row["version"] == 1
        assert not row["deleted"]
        assert row["title"] == sent["title"]
        assert row["company"] == sent["company"]
        assert (row["city"], row["country_code"]) == (
            sent["location"]["city"],
            sent["location"]["country_code"],
        )
        assert list(row["skills"]) == sent["skills"]
        assert row["experience_min_years"] == sent["experience_min_years"]
        assert row["english_level"] == sent["english_level"]
        assert row["description"] == sent["description"]
        np.testing.assert_allclose(row["embedding"].to_numpy(), vectors[i], atol=1e-6)
