"""Writing accepted events to postings.v1 with an idempotent, acks=all producer.

Two record layouts, chosen per gateway (``record_format``):

- ``"event"``: one Kafka record per event; key = posting id, value =
  ``encode_event(event)``, header ``content-type: application/x-protobuf;
  messageType=jobstream.v1.PostingEvent``. The default partitioner hashes the key, so
  every event of one posting lands on one partition, in order.
- ``"pack"``: the events of one ingest batch bound for the same partition go in one
  ``PostingEventPack`` record (header ``content-type: application/x-jobstream-pack``,
  no key). The partition is computed exactly as the default partitioner would for the
  event's id (murmur2), so per-posting order is the same as with ``"event"`` and a
  later single-event record of the posting lands next to it. Per-record costs (the
  Kafka producer, Faust's per-event overhead) are then paid once per pack.

Both carry the ``producer-id`` header, and ``traceparent``/``tracestate`` of the batch's
span (:mod:`schemas.tracing`) when one is active.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

from aiokafka import AIOKafkaProducer

from schemas import kafka
from schemas.settings import Settings
from schemas.topics import CONTENT_TYPE_EVENT, CONTENT_TYPE_PACK, partition_for
from schemas.tracing import kafka_headers

RecordFormat = Literal["event", "pack"]
# Packs: the layout proto/jobstream/v1/posting.proto describes for the gateway, and the
# one that keeps Faust's per-event cost off the ingest path (README.md, ingest performance).
DEFAULT_RECORD_FORMAT: RecordFormat = "pack"
# Well under kafka.MAX_MESSAGE_BYTES, and under a broker's default 1 MiB as well.
PACK_MAX_BYTES = 512 * 1024


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pack_events(encoded: Sequence[bytes]) -> bytes:
    """Serialise a ``PostingEventPack`` from already-encoded events without re-encoding.

    A repeated message field is just ``tag, length, bytes`` per element (field 1,
    wire type 2 -> tag byte 0x0A), so concatenation is the exact protobuf encoding.
    """
    return b"".join(b"\x0a" + _varint(len(item)) + item for item in encoded)


def split_packs(
    encoded: Sequence[bytes], max_events: int, max_bytes: int = PACK_MAX_BYTES
) -> list[list[bytes]]:
    """Consecutive groups of at most ``max_events`` (``Settings.pack_max_events``: the sink
    dead-letters bigger packs) whose packed size stays under ``max_bytes`` (order kept)."""
    groups: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for item in encoded:
        cost = len(item) + 6
        if current and (size + cost > max_bytes or len(current) == max_events):
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += cost
    if current:
        groups.append(current)
    return groups


class KafkaWriter:
    """Owns the gateway's one Kafka producer (postings and sequence records)."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        record_format: RecordFormat = DEFAULT_RECORD_FORMAT,
    ) -> None:
        self.topic = topic
        self.record_format: RecordFormat = record_format
        self.pack_max_events = settings.pack_max_events
        self.producer: AIOKafkaProducer = kafka.producer(
            settings, "gateway", linger_ms=5, max_batch_size=PACK_MAX_BYTES
        )
        self._partitions: list[int] = []

    async def start(self) -> None:
        await self.producer.start()
        partitions = await self.producer.partitions_for(self.topic)
        if not partitions:
            raise RuntimeError(f"topic {self.topic} has no partitions (run `jobstream up`)")
        self._partitions = sorted(partitions)

    async def stop(self) -> None:
        await self.producer.stop()

    async def enqueue(
        self, records: Sequence[tuple[str, bytes]], producer_id: str
    ) -> list[asyncio.Future[object]]:
        """Hand ``(posting id, encoded event)`` pairs to the producer, in order.

        Returns the futures Kafka resolves once each record is acknowledged by all
        in-sync replicas. Must not run concurrently with itself for the same stream, or
        two batches' records could interleave out of order.
        """
        if not records:
            return []
        if self.record_format == "pack":
            return await self._enqueue_packs(records, producer_id)
        headers = [
            ("producer-id", producer_id.encode()),
            ("content-type", CONTENT_TYPE_EVENT.encode()),
            *kafka_headers(),
        ]
        futures = []
        for posting_id, value in records:
            futures.append(
                await self.producer.send(
                    self.topic, value, key=posting_id.encode(), headers=headers
                )
            )
        return futures

    async def _enqueue_packs(
        self, records: Sequence[tuple[str, bytes]], producer_id: str
    ) -> list[asyncio.Future[object]]:
        headers = [
            ("producer-id", producer_id.encode()),
            ("content-type", CONTENT_TYPE_PACK.encode()),
            *kafka_headers(),
        ]
        by_partition: dict[int, list[bytes]] = {}
        count = len(self._partitions)
        for posting_id, value in records:
            partition = self._partitions[partition_for(posting_id.encode(), count)]
            by_partition.setdefault(partition, []).append(value)
        futures = []
        for partition, values in by_partition.items():
            for group in split_packs(values, self.pack_max_events):
                futures.append(
                    await self.producer.send(
                        self.topic, pack_events(group), partition=partition, headers=headers
                    )
                )
        return futures
