"""Sink components in-process against the real PostgreSQL/Kafka: the writer's SQL, the
vector index manager, the invalidation outbox relay."""

from __future__ import annotations

import uuid

import asyncpg
import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from schemas.domain import Posting, PostingDeleted
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings
from streams.index import IndexPolicy, VectorIndexManager
from streams.invalidations import Changed, Invalidations, build_invalidation
from streams.sink.batch import dedupe
from streams.sink.records import Decoded, Record
from streams.sink.writer import PostingsWriter
from tests.support.sink import (
    deleted,
    make_topics,
    posting,
    read_all,
    reset_table,
    table,
)

pytestmark = pytest.mark.integration


def batch(events: list[Posting | PostingDeleted]) -> list[Decoded]:
    return [
        Decoded(e, Record("t", 0, i, e.id.encode(), b"v"), i, b"v") for i, e in enumerate(events)
    ]


async def write(writer: PostingsWriter, events: list[Posting | PostingDeleted]):  # type: ignore[no-untyped-def]
    winners, fallbacks = dedupe(batch(events))
    return await writer.write(winners, fallbacks)


async def test_writer_applies_versions_in_one_transaction_and_returns_what_changed(
    stack: Settings,
) -> None:
    await reset_table(stack)
    rng = np.random.default_rng(5)
    writer = PostingsWriter(stack.postgres_dsn, dim=stack.embedding_dim, source="test")
    try:
        first = await write(
            writer,
            [posting("a", 1, rng), posting("a", 3, rng), deleted("b", 2), posting("c", 1, rng)],
        )
        assert sorted((c.id, c.version, c.deleted) for c in first.changed) == [
            ("a", 3, False),
            ("b", 2, True),
            ("c", 1, False),
        ]
        assert first.outbox_id is not None
        assert first.rejected == []

        second = await write(
            writer, [posting("a", 2, rng), posting("b", 1, rng), posting("c", 1, rng, title="x")]
        )
        assert second.changed == []
        assert second.outbox_id is None  # nothing changed: no invalidation
        assert await table(stack) == {
            "a": (3, False, "Engineer a v3"),
            "b": (2, True, None),
            "c": (1, False, "Engineer c v1"),
        }
        conn = await asyncpg.connect(stack.postgres_dsn)
        try:
            payload = await conn.fetchval(
                "SELECT payload FROM invalidation_outbox WHERE id = $1", first.outbox_id
            )
        finally:
            await conn.close()
        inval = events_pb2.Invalidation.FromString(payload)
        assert {(p.id, p.version) for p in inval.postings} == {("a", 3), ("b", 2), ("c", 1)}
    finally:
        await writer.close()


async def test_writer_isolates_rejected_rows_and_falls_back_to_lower_versions(
    stack: Settings,
) -> None:
    await reset_table(stack)
    rng = np.random.default_rng(6)
    conn = await asyncpg.connect(stack.postgres_dsn)
    await conn.execute(
        "ALTER TABLE postings ADD CONSTRAINT test_writer_reject"
        " CHECK (title IS DISTINCT FROM 'BAD') NOT VALID"
    )
    writer = PostingsWriter(stack.postgres_dsn, dim=stack.embedding_dim, source="test")
    try:
        events: list[Posting | PostingDeleted] = [posting(f"k{i}", 1, rng) for i in range(50)]
        events += [
            posting("x", 1, rng),
            posting("x", 2, rng, title="BAD"),
            posting("x", 3, rng, title="BAD"),
            posting("y", 5, rng, title="BAD"),
        ]
        result = await write(writer, events)
        assert sorted((p.record.offset, p.error_class) for p in result.rejected) == [
            (51, "db_check_violation"),
            (52, "db_check_violation"),
            (53, "db_check_violation"),
        ]
        attempts = {(p.record.offset): p.attempts for p in result.rejected}
        assert attempts[52] >= 2  # x v3: the whole batch, then each bisection step
        assert attempts[53] >= 2  # y v5 likewise
        assert attempts[51] == 1  # x v2 only got its turn after v3 was rejected
        rows = await table(stack)
        assert rows["x"] == (1, False, "Engineer x v1")  # v3, v2 rejected: v1 applies
        assert "y" not in rows
        assert len(rows) == 51
        assert len(result.changed) == 51
    finally:
        await conn.execute("ALTER TABLE postings DROP CONSTRAINT test_writer_reject")
        await conn.close()
        await writer.close()


async def test_vector_index_is_created_when_big_enough_and_rebuilt_as_the_table_grows(
    stack: Settings,
) -> None:
    await reset_table(stack)
    rng = np.random.default_rng(8)
    centers = rng.normal(size=(20, stack.embedding_dim)).astype(np.float32)

    def clustered(pid: str) -> Posting:
        p = posting(pid, 1, rng)
        v = centers[rng.integers(20)] + rng.normal(size=stack.embedding_dim) * 0.05
        return Posting(
            **{**{f: getattr(p, f) for f in _FIELDS}, "embedding": v / np.linalg.norm(v)}
        )

    writer = PostingsWriter(stack.postgres_dsn, dim=stack.embedding_dim, source="test")
    manager = VectorIndexManager(stack.postgres_dsn, IndexPolicy(min_rows=1000, min_lists=5))
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        await conn.execute("DELETE FROM vector_index")
        await write(writer, [clustered(f"v{i}") for i in range(600)])
        assert await manager.check() is None  # too few rows to train lists
        await write(writer, [clustered(f"w{i}") for i in range(600)])
        assert await manager.check() == "create"
        first = await conn.fetchrow("SELECT * FROM vector_index")
        assert (first["lists"], first["probes"], first["rows_at_build"]) == (5, 3, 1200)
        assert await _valid_index(conn, first["name"])
        assert await manager.check() is None  # not grown enough

        await write(writer, [clustered(f"z{i}") for i in range(1300)])
        assert await manager.check() == "rebuild"
        second = await conn.fetchrow("SELECT * FROM vector_index")
        assert second["name"] != first["name"]
        assert second["rows_at_build"] == 2500
        assert await _valid_index(conn, second["name"])
        assert not await _valid_index(conn, first["name"])  # dropped CONCURRENTLY

        # Emptied for a rebuild from the log: the stale index goes.
        await conn.execute("TRUNCATE postings")
        assert await manager.check() == "drop"
        assert not await _valid_index(conn, second["name"])
        assert await conn.fetchval("SELECT count(*) FROM vector_index") == 0
        await write(writer, [clustered(f"z{i}") for i in range(1300)])
        assert await manager.check() == "create"
        second = await conn.fetchrow("SELECT * FROM vector_index")

        # The index can serve the API's nearest-neighbour query (seq scans off: on 2,500
        # rows the planner may rightly prefer one).
        await conn.execute(f"SET ivfflat.probes = {second['probes']}")
        await conn.execute("SET enable_seqscan = off")
        plan = await conn.fetch(
            "EXPLAIN SELECT id FROM postings ORDER BY embedding <=> $1::vector LIMIT 10",
            str(centers[0].tolist()),
        )
        assert any(second["name"] in r[0] for r in plan)
    finally:
        for row in await conn.fetch("SELECT name FROM vector_index"):
            await conn.execute(f"DROP INDEX IF EXISTS {row['name']}")
        await conn.execute("DELETE FROM vector_index")
        await conn.close()
        await writer.close()


async def test_outbox_rows_left_by_a_crashed_worker_are_relayed_once(stack: Settings) -> None:
    topics = await make_topics(stack, partitions=1)
    payload = build_invalidation([Changed(f"crash-{uuid.uuid4().hex}", 7, False)], source="dead")
    conn = await asyncpg.connect(stack.postgres_dsn)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers, acks="all")
    await producer.start()
    pool = await asyncpg.create_pool(stack.postgres_dsn, min_size=1, max_size=1)
    try:
        await conn.execute("DELETE FROM invalidation_outbox")
        await conn.execute(
            "INSERT INTO invalidation_outbox (payload) VALUES ($1)", payload.SerializeToString()
        )
        relay = Invalidations(producer, topics.invalidations)
        assert await relay.relay(pool, older_than_s=60.0) == 0  # too fresh for the timer
        assert await relay.relay(pool, older_than_s=0.0) == 1
        assert await relay.relay(pool, older_than_s=0.0) == 0
        records = await read_all(stack, topics.invalidations, expect=1, timeout=10)
        assert [events_pb2.Invalidation.FromString(r.value) for r in records] == [payload]
    finally:
        await pool.close()
        await producer.stop()
        await conn.close()


async def _valid_index(conn: asyncpg.Connection, name: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            " WHERE c.relname = $1",
            name,
        )
    )


_FIELDS = [f for f in Posting.__dataclass_fields__ if f not in ("embedding", "embedding_bytes")]
