"""A gRPC batch as large as the gateway accepts lands in Kafka: no record it writes
exceeds the record limit every topic shares (schemas.kafka.MAX_MESSAGE_BYTES), though a
gRPC message may be twice that."""

from __future__ import annotations

import uuid

import pytest
from grpc import aio

from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc
from schemas.kafka import MAX_MESSAGE_BYTES
from schemas.settings import Settings
from tests.support.gateway import TopicWatch, private_topics, running_gateway, sample_event
from tests.support.provision import PUBLISH_METADATA, free_port

pytestmark = pytest.mark.integration


def full_batch(prefix: str, limit: int) -> ingest_pb2.IngestBatch:
    """Postings with the longest description (20,000 two-byte characters) until the
    batch is a few KiB under ``limit`` bytes."""
    batch = ingest_pb2.IngestBatch(sequence=1)
    template = sample_event(0)
    template.body.description = "é" * 20_000
    while True:
        msg = ingest_pb2.IngestBatch(sequence=1)
        msg.postings.append(template)
        if batch.ByteSize() + msg.ByteSize() > limit - 4096:
            return batch
        event = batch.postings.add()
        event.CopyFrom(template)
        event.id = f"{prefix}:{len(batch.postings)}"


@pytest.mark.parametrize("record_format", ["pack", "event"])
async def test_a_batch_at_the_grpc_message_limit_lands_in_records_kafka_accepts(
    stack: Settings, record_format: str
) -> None:
    settings = await private_topics(stack)
    prefix = uuid.uuid4().hex[:8]
    batch = full_batch(prefix, settings.max_message_bytes)
    assert batch.ByteSize() > 2 * MAX_MESSAGE_BYTES - 64 * 1024  # twice the record limit
    watch = await TopicWatch(settings, settings.topic_postings).mark()
    md = (("x-producer-id", f"big-{prefix}"), *PUBLISH_METADATA)
    async with (
        running_gateway(
            settings,
            gateway_port=free_port(),
            record_format=record_format,
            max_batch_records=len(batch.postings),
        ) as gw,
        aio.insecure_channel(
            gw.address,
            options=[("grpc.max_send_message_length", settings.max_message_bytes)],
        ) as ch,
    ):
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        acks = [ack async for ack in stub.Ingest(iter([batch]), metadata=md)]
    (ack,) = acks
    assert list(ack.rejections) == []
    assert len(ack.accepted_ids) == len(batch.postings)
    records = await watch.records()
    assert records
    assert max(len(r.value) for r in records) < MAX_MESSAGE_BYTES
