"""The last sequence acked to each producer, kept in a small compacted Kafka topic.

Why Kafka and not Redis or Postgres: the gateway already depends on Kafka alone, the
record is written with the same idempotent acks=all producer as the postings, and a
compacted topic keeps exactly one record per producer id for ever. Faust never reads
this topic, so compaction's offset gaps do not matter here (docs/architecture.md, topics).

Order of writes per batch: the postings first, then -- once Kafka acked all of them --
the sequence record, then the gRPC ack. So an ack to the client implies both are
durable. The one crash window: the process dies after Kafka acked the postings but
before the sequence record is acked; the producer never got its ack, re-sends the batch
under the same sequence, and those events are written twice. The sink's rules (highest
version wins, the same version again is a no-op) make the copy harmless.

Each record also names the API key that owns the producer id (``owner_key_id``): the key
whose batch was recorded first. Only that key may resume or write under the id, so
another publisher cannot take over, poison or stall a stream that is not its own.
Records from before ownership carry none; the next key to write binds the id.

The map is loaded at start (read the topic to its end) and caught up again on every
``Resume`` and at the start of every ``Ingest`` stream, so a producer that reconnects to
another gateway instance still resumes where it was acked.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from schemas import kafka
from schemas.settings import Settings
from schemas.topics import TopicSpec, create_missing, topic_spec

log = structlog.get_logger("gateway.sequences")


class SequenceStoreError(RuntimeError):
    """The sequence topic cannot be created or read; the gateway cannot serve safely."""


@dataclass(frozen=True, slots=True)
class Acked:
    """What one sequence record says: the last acked sequence and the owning key."""

    sequence: int
    owner_key_id: str | None


def encode_record(producer_id: str, sequence: int, owner_key_id: str) -> tuple[bytes, bytes]:
    """Key and value of a sequence record (JSON, so operators can read it with any tool)."""
    value = {
        "producer_id": producer_id,
        "sequence": sequence,
        "owner_key_id": owner_key_id,
        "recorded_at": datetime.now(UTC).isoformat(),
    }
    return producer_id.encode("utf-8"), json.dumps(value, separators=(",", ":")).encode()


def decode_record(key: bytes | None, value: bytes | None) -> tuple[str, Acked | None] | None:
    """``(producer_id, acked)``; acked None for a tombstone; None when unreadable."""
    if key is None:
        return None
    producer_id = key.decode("utf-8", "replace")
    if value is None:
        return producer_id, None
    try:
        data = json.loads(value)
        sequence, owner = data["sequence"], data.get("owner_key_id")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        return None
    return producer_id, Acked(sequence, owner if isinstance(owner, str) and owner else None)


class SequenceStore:
    """In-memory ``producer id -> last acked sequence`` backed by a compacted topic."""

    def __init__(
        self,
        settings: Settings,
        producer: AIOKafkaProducer,
        *,
        topic: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.topic = topic or settings.topic_gateway_sequences
        self._settings = settings
        self._producer = producer
        self._timeout = timeout_s
        self._acked: dict[str, int] = {}
        self._owners: dict[str, str] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._tp = TopicPartition(self.topic, 0)
        self._read_lock = asyncio.Lock()

    async def start(self) -> None:
        await self._ensure_topic()
        self._consumer = kafka.consumer(
            self._settings,
            "gateway-sequences",
            auto_offset_reset="earliest",
            # The background fetch parks at the log end for up to this long; catching
            # up after our own writes must not wait the default 500 ms for it.
            fetch_max_wait_ms=20,
        )
        await self._consumer.start()
        self._consumer.assign([self._tp])
        await self._consumer.seek_to_beginning(self._tp)
        await self.catch_up()
        log.info("sequences loaded", topic=self.topic, producers=len(self._acked))

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def last_acked(self, producer_id: str) -> int:
        return self._acked.get(producer_id, 0)

    def owner(self, producer_id: str) -> str | None:
        """The key id bound to ``producer_id``, None while unbound."""
        return self._owners.get(producer_id)

    async def catch_up(self) -> None:
        """Read every record written so far (by any gateway instance)."""
        consumer = self._consumer
        if consumer is None:
            raise SequenceStoreError("sequence store is not started")
        async with self._read_lock:
            try:
                await asyncio.wait_for(self._read_to_end(consumer), self._timeout)
            except TimeoutError:
                raise SequenceStoreError(
                    f"could not read {self.topic} to its end within {self._timeout:.0f} s"
                ) from None
            except KafkaError as exc:
                raise SequenceStoreError(f"cannot read {self.topic}: {exc}") from exc

    async def _read_to_end(self, consumer: AIOKafkaConsumer) -> None:
        end = (await consumer.end_offsets([self._tp]))[self._tp]
        while await consumer.position(self._tp) < end:
            batches = await consumer.getmany(self._tp, timeout_ms=200, max_records=10_000)
            for record in batches.get(self._tp, ()):
                decoded = decode_record(record.key, record.value)
                if decoded is None:
                    log.warning("unreadable sequence record", offset=record.offset)
                    continue
                producer_id, acked = decoded
                if acked is None:
                    self._acked.pop(producer_id, None)
                    self._owners.pop(producer_id, None)
                    continue
                self._acked[producer_id] = max(acked.sequence, self._acked.get(producer_id, 0))
                if acked.owner_key_id is not None:
                    self._owners.setdefault(producer_id, acked.owner_key_id)

    async def record(self, producer_id: str, sequence: int, owner_key_id: str) -> None:
        """Durably record ``sequence`` as acked (call only after its postings are acked),
        binding the id to ``owner_key_id`` if nothing owns it yet."""
        owner = self._owners.get(producer_id, owner_key_id)
        key, value = encode_record(producer_id, sequence, owner)
        await self._producer.send_and_wait(self.topic, value, key=key, partition=0)
        self._acked[producer_id] = max(sequence, self._acked.get(producer_id, 0))
        self._owners.setdefault(producer_id, owner)

    async def _ensure_topic(self) -> None:
        admin = kafka.admin(self._settings, "gateway-sequences", request_timeout_ms=10_000)
        await admin.start()
        config = topic_spec(self._settings, self._settings.topic_gateway_sequences).config
        try:
            if await create_missing(admin, [TopicSpec(self.topic, 1, config)]):
                log.info("created sequence topic", topic=self.topic)
        finally:
            await admin.close()
