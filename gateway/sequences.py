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

Fencing across gateway instances: a stream records its sequences through a :class:`Claim`,
a transactional producer whose id is derived from the producer id. Opening a claim makes
Kafka bump that id's epoch, which aborts the previous holder's open transaction and
makes its next one fail with ``ProducerFenced`` -- on whatever instance it runs. So two
instances never both record (and so never both ack) for one producer id, and the new
holder, which reads the topic to its end only after claiming, starts from every sequence
the old one recorded. The old holder's in-flight postings may still reach the postings
topic (they are not in the transaction: transaction markers would leave offset gaps the
sink's checkpoints never close); they are the batches the producer re-sends to the new
holder under the same sequences, which the sink's version rules absorb.

The map is loaded at start (read the topic to its end) and caught up again on every
``Resume`` and at the start of every ``Ingest`` stream, so a producer that reconnects to
another gateway instance still resumes where it was acked. The reader is
``read_committed``: a record whose transaction was fenced or abandoned is never seen.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced

from schemas import kafka
from schemas.settings import Settings
from schemas.topics import TopicSpec, create_missing, topic_spec

log = structlog.get_logger("gateway.sequences")


# Seconds an open sequence transaction of a crashed gateway blocks the topic's readers
# (every read_committed reader stops at the oldest open transaction) before Kafka aborts
# it. The crashed stream's producer, reconnecting, aborts it at once by claiming its id.
TRANSACTION_TIMEOUT_S = 10


class SequenceStoreError(RuntimeError):
    """The sequence topic cannot be created or read; the gateway cannot serve safely."""


class ClaimTaken(SequenceStoreError):
    """Another gateway instance claimed the producer id: this one may not ack for it."""


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
        self, settings: Settings, *, topic: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.topic = topic or settings.topic_gateway_sequences
        self._settings = settings
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
            isolation_level="read_committed",
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

    async def claim(self, producer_id: str) -> Claim:
        """Fence every other holder of ``producer_id`` (on any instance), then read the
        topic to its end so the sequences they recorded are known."""
        producer = kafka.producer(
            self._settings,
            "gateway-sequences",
            transactional_id=f"{self.topic}/{producer_id}",
            transaction_timeout_ms=TRANSACTION_TIMEOUT_S * 1000,
        )
        try:
            await asyncio.wait_for(producer.start(), self._timeout)
        except (TimeoutError, KafkaError) as exc:
            await producer.stop()
            raise SequenceStoreError(
                f"cannot claim producer id {producer_id!r} in {self.topic}: {exc!r}"
            ) from None
        except BaseException:
            await producer.stop()
            raise
        claim = Claim(self, producer_id, producer)
        try:
            await self.catch_up()
        except BaseException:
            await claim.release()
            raise
        return claim

    def recorded(self, producer_id: str, sequence: int, owner_key_id: str) -> None:
        self._acked[producer_id] = max(sequence, self._acked.get(producer_id, 0))
        self._owners.setdefault(producer_id, owner_key_id)

    async def _ensure_topic(self) -> None:
        admin = kafka.admin(self._settings, "gateway-sequences", request_timeout_ms=10_000)
        await admin.start()
        config = topic_spec(self._settings, self._settings.topic_gateway_sequences).config
        try:
            if await create_missing(admin, [TopicSpec(self.topic, 1, config)]):
                log.info("created sequence topic", topic=self.topic)
        finally:
            await admin.close()


class Claim:
    """One instance's right to record sequences for one producer id, until fenced."""

    def __init__(self, store: SequenceStore, producer_id: str, producer: AIOKafkaProducer):
        self.store = store
        self.producer_id = producer_id
        self._producer = producer

    async def record(self, sequence: int, owner_key_id: str) -> None:
        """Durably record ``sequence`` as acked (call only after its postings are acked),
        binding the id to ``owner_key_id`` if nothing owns it yet. Raises
        :class:`ClaimTaken` once another instance claimed the id."""
        store = self.store
        owner = store.owner(self.producer_id) or owner_key_id
        key, value = encode_record(self.producer_id, sequence, owner)
        try:
            async with self._producer.transaction():
                await self._producer.send_and_wait(store.topic, value, key=key, partition=0)
        except ProducerFenced:
            raise ClaimTaken(
                f"producer id {self.producer_id!r} is now streaming through another "
                "gateway instance; this stream is closed, keep sending on the new one"
            ) from None
        store.recorded(self.producer_id, sequence, owner)

    async def release(self) -> None:
        await self._producer.stop()
