"""The ingest gateway against the real Kafka: acks, rejections, limits, auth, health.

Each test starts its own in-process gateway on a free port and uses its own producer id
and posting-id prefix, so tests share the session's Kafka without seeing each other.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from grpc import aio

from gateway.kafka_writer import CONTENT_TYPE_EVENT
from gateway.server import Gateway
from gateway.testing import running_gateway, sample_event
from schemas.domain import decode_event
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc, posting_pb2
from schemas.settings import Settings
from tests.support.provision import free_port

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


class TopicWatch:
    """Records appended to a topic after :meth:`mark`."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.start: dict[TopicPartition, int] = {}

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        return consumer

    async def mark(self) -> TopicWatch:
        consumer = await self._consumer()
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in parts]
            self.start = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return self

    async def records(self) -> list[Record]:
        consumer = await self._consumer()
        try:
            tps = list(self.start)
            ends = await consumer.end_offsets(tps)
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.start[tp])
            out: list[Record] = []
            remaining = {tp for tp in tps if ends[tp] > self.start[tp]}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
                for tp, msgs in batches.items():
                    for m in msgs:
                        if m.offset < ends[tp]:
                            out.append(
                                Record(m.key, m.value, dict(m.headers), tp.partition, m.offset)
                            )
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            return out
        finally:
            await consumer.stop()


def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def gateway(stack: Settings) -> AsyncIterator[Gateway]:
    async with running_gateway(stack, gateway_port=free_port()) as gw:
        yield gw


@pytest.fixture
async def watch(stack: Settings) -> TopicWatch:
    return await TopicWatch(stack, stack.topic_postings).mark()


def channel(gw: Gateway) -> aio.Channel:
    return aio.insecure_channel(gw.address)


async def ingest(
    gw: Gateway,
    batches: list[ingest_pb2.IngestBatch],
    *,
    producer_id: str | None = None,
    metadata: tuple[tuple[str, str], ...] = (),
) -> list[ingest_pb2.IngestAck]:
    """Send ``batches`` on one stream, half-close, and return every ack."""
    md = (("x-producer-id", producer_id or f"test-{uid()}"), *metadata)
    async with channel(gw) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        call = stub.Ingest(iter(batches), metadata=md)
        return [ack async for ack in call]


def batch(sequence: int, events: list[posting_pb2.PostingEvent]) -> ingest_pb2.IngestBatch:
    return ingest_pb2.IngestBatch(sequence=sequence, postings=events)


def events(prefix: str, n: int, start: int = 0) -> list[posting_pb2.PostingEvent]:
    out = []
    for i in range(start, start + n):
        msg = sample_event(i)
        msg.id = f"{prefix}:{i}"
        out.append(msg)
    return out


# --- a mixed batch ------------------------------------------------------------------------


async def test_mixed_batch_acks_each_record_and_writes_only_valid_ones(
    gateway: Gateway, watch: TopicWatch, stack: Settings
) -> None:
    p = uid()
    good = events(p, 3)
    bad_id = sample_event(10)
    bad_id.id = "bad id with spaces"
    bad_version = events(p, 1, start=11)[0]
    bad_version.version = 0
    too_long = events(p, 1, start=12)[0]
    too_long.body.title = "x" * 301
    zero_vec = events(p, 1, start=13)[0]
    zero_vec.body.embedding = b"\x00" * (4 * stack.embedding_dim)
    nan_vec = events(p, 1, start=14)[0]
    nan_vec.body.embedding = bytes.fromhex("0000c07f") * stack.embedding_dim
    short_vec = events(p, 1, start=15)[0]
    short_vec.body.embedding = b"\x00\x00\x80\x3f" * (stack.embedding_dim - 1)
    unknown_enum = events(p, 1, start=16)[0]
    unknown_enum.body.remote_mode = 42  # type: ignore[assignment]
    no_body = posting_pb2.PostingEvent(id=f"{p}:17", version=1)
    delete = posting_pb2.PostingEvent(id=f"{p}:0", version=2, deleted=True)
    same_again = events(p, 1)[0]  # (id, version) already in this batch
    records = [
        good[0],
        bad_id,
        good[1],
        bad_version,
        too_long,
        zero_vec,
        nan_vec,
        short_vec,
        unknown_enum,
        no_body,
        good[2],
        delete,
        same_again,
    ]
    producer = f"mixed-{p}"
    [ack] = await ingest(gateway, [batch(1, records)], producer_id=producer)

    assert ack.sequence == 1
    assert not ack.duplicate
    assert list(ack.accepted_ids) == [f"{p}:0", f"{p}:1", f"{p}:2", f"{p}:0"]
    got = [(r.index, r.id, ingest_pb2.RejectReason.Name(r.reason)) for r in ack.rejections]
    assert got == [
        (1, "bad id with spaces", "INVALID_ID"),
        (3, f"{p}:11", "INVALID_VERSION"),
        (4, f"{p}:12", "TOO_LONG"),
        (5, f"{p}:13", "INVALID_EMBEDDING"),
        (6, f"{p}:14", "INVALID_EMBEDDING"),
        (7, f"{p}:15", "INVALID_EMBEDDING"),
        (8, f"{p}:16", "INVALID_FIELD"),
        (9, f"{p}:17", "MISSING_FIELD"),
        (12, f"{p}:0", "DUPLICATE_IN_BATCH"),
    ]
    assert all(r.message for r in ack.rejections)
    assert "title" in ack.rejections[2].message

    written = await watch.records()
    mine = [r for r in written if r.key is not None and r.key.startswith(p.encode())]
    assert sorted(r.key for r in mine) == sorted(
        k.encode() for k in [f"{p}:0", f"{p}:0", f"{p}:1", f"{p}:2"]
    )
    by_key: dict[bytes, list[Record]] = {}
    for r in mine:
        assert r.headers["producer-id"] == producer.encode()
        assert r.headers["content-type"] == CONTENT_TYPE_EVENT.encode()
        by_key.setdefault(r.key or b"", []).append(r)
        event = decode_event(r.key, r.value, dim=stack.embedding_dim)
        assert event.producer_id == producer
        assert event.produced_at is not None
    # Both events of posting :0 sit on one partition, the update after the create.
    zero = sorted(by_key[f"{p}:0".encode()], key=lambda r: r.offset)
    assert len({r.partition for r in zero}) == 1
    assert [decode_event(r.key, r.value, dim=stack.embedding_dim).version for r in zero] == [1, 2]
