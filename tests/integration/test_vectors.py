"""Embeddings cannot game the ranking: tiny and huge norms are refused everywhere (the
gateway with a reason, the sink with a dead letter for records written straight to
Kafka) and what is stored is unit-normalised."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from grpc import aio

from schemas.domain import encode_event
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc
from schemas.settings import Settings
from tests.support.gateway import private_topics, running_gateway, sample_event
from tests.support.provision import PUBLISH_METADATA, free_port
from tests.support.sink import (
    Topics,
    WorkerProcess,
    make_topics,
    posting,
    produce,
    read_all,
    reset_table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration

DIM = 384
HOSTILE = {"tiny": 1e-30, "huge": 1e19}  # 384 x 1e-30 ranked first for every query


async def test_the_gateway_rejects_tiny_and_huge_norms_with_a_reason(stack: Settings) -> None:
    settings = await private_topics(stack)
    batch = ingest_pb2.IngestBatch(sequence=1)
    for i, scale in enumerate(HOSTILE.values()):
        msg = sample_event(i)
        msg.body.embedding = np.full(DIM, scale, dtype="<f4").tobytes()
        batch.postings.append(msg)
    batch.postings.append(sample_event(2))
    md = (("x-producer-id", f"vec-{uuid.uuid4().hex[:8]}"), *PUBLISH_METADATA)
    async with (
        running_gateway(settings, gateway_port=free_port()) as gw,
        aio.insecure_channel(gw.address) as ch,
    ):
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        acks = [ack async for ack in stub.Ingest(iter([batch]), metadata=md)]
    (ack,) = acks
    assert list(ack.accepted_ids) == ["test:2"]
    reasons = {r.index: ingest_pb2.RejectReason.Name(r.reason) for r in ack.rejections}
    assert reasons == {0: "INVALID_EMBEDDING", 1: "INVALID_EMBEDDING"}
    messages = {r.index: r.message for r in ack.rejections}
    assert messages[0].startswith("embedding norm 1.96e-29 is below 1e-06")
    assert messages[1].startswith("embedding norm 1.96e+20 is above 1e+06")


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    await reset_table(stack)
    return await make_topics(stack, partitions=3)


@pytest.fixture
def worker(topics: Topics, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(topics, tmp_path).start()
    yield proc
    if proc.alive():
        proc.kill9()


async def test_the_sink_dead_letters_hostile_norms_and_stores_unit_vectors(
    stack: Settings, topics: Topics, worker: WorkerProcess
) -> None:
    rng = np.random.default_rng(5)
    normal = posting("normal", 1, rng)
    scaled = replace(posting("scaled", 1, rng), embedding=normal.embedding * 37.0)
    hostile = [
        replace(posting(name, 1, rng), embedding=np.full(DIM, scale, dtype=np.float32))
        for name, scale in HOSTILE.items()
    ]
    # Another client writes straight to the topic, past the gateway's validation.
    events = [*hostile, normal, scaled]
    await produce(stack, topics.postings, [(e.id.encode(), encode_event(e)) for e in events])
    await wait_caught_up(topics)

    letters = await read_all(stack, topics.dead_letters, expect=2, timeout=15)
    by_key = {r.key: dict(r.headers) for r in letters}
    assert set(by_key) == {b"tiny", b"huge"}
    for key, side in ((b"tiny", "below"), (b"huge", "above")):
        assert by_key[key]["x-error-class"] == b"invalid_embedding"
        assert b"embedding norm" in by_key[key]["x-error-message"]
        assert side.encode() in by_key[key]["x-error-message"]

    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, vector_norm(embedding) AS norm, embedding <=> $1::text::vector AS d "
            "FROM postings ORDER BY id",
            str(normal.embedding.tolist()),
        )
    finally:
        await conn.close()
    assert [r["id"] for r in rows] == ["normal", "scaled"]
    for row in rows:
        assert abs(row["norm"] - 1.0) <= 1e-6
        assert row["d"] < 1e-6  # the scaled copy points the same way: same ranking
