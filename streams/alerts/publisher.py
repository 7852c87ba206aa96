"""The outbox publisher: unpublished ledger rows to alerts.v1, exactly once.

A round (:meth:`Publisher.publish`), under a PostgreSQL advisory lock so one publisher
at a time writes the topic:

1. *recover*: read alerts.v1 from the checkpoint (``alerts_publisher_offsets``, the
   offset past the last record this or a previous holder knew it wrote) to the log end,
   and mark the ledger rows those records carry (by ``sequence``) published;
2. produce the unpublished rows (key saved_search_id, acks=all, idempotent; in batches
   per partition, in sequence order), wait for every ack, then mark them published and
   advance the checkpoint in one transaction.

Why nothing repeats or goes missing (docs/alerts.md): a record is only ever written by
the lock holder; a holder killed after the broker appended a record but before step 2's
mark leaves that record after the checkpoint, so the next holder's step 1 finds and
marks it before producing anything; a row is marked only once its record is acked (or
found on the topic). After a failed round the producer is replaced, so no retry of the
old one can append after the next recovery read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from google.protobuf.message import DecodeError

from schemas import kafka
from schemas.db.locks import AdvisoryLock
from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings
from schemas.topics import create_missing, topic_spec
from streams.alerts import ledger
from streams.alerts.metrics import AlertMetrics

log = structlog.get_logger("streams.alerts.publisher")


class Publisher:
    """Owns the alerts producer and a metadata consumer; see the module docstring."""

    def __init__(
        self, settings: Settings, metrics: AlertMetrics | None = None, *, batch: int = 5000
    ) -> None:
        self._settings = settings
        self._topic = settings.topic_alerts
        self._metrics = metrics or AlertMetrics()
        self._batch = batch
        self._producer: AIOKafkaProducer | None = None
        self._meta: AIOKafkaConsumer | None = None
        self._partitioner = DefaultPartitioner()

    async def start(self) -> None:
        """Create alerts.v1 if missing, then start the clients."""
        admin = kafka.admin(self._settings, "alerts-admin")
        await admin.start()
        try:
            await create_missing(admin, [topic_spec(self._settings, self._topic)])
        finally:
            await admin.close()
        self._meta = kafka.consumer(self._settings, "alerts-meta")
        await self._meta.start()
        await self._new_producer()

    async def stop(self) -> None:
        for client in (self._producer, self._meta):
            if client is not None:
                await client.stop()
        self._producer = self._meta = None

    async def _new_producer(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
        self._producer = None
        producer = kafka.producer(self._settings, "alerts", linger_ms=5, max_batch_size=256 * 1024)
        await producer.start()
        self._producer = producer

    async def publish(self, pool: asyncpg.Pool) -> int:
        """One round (recover, then produce and mark everything unpublished); returns the
        records written. On failure the producer is replaced and the error raised: the
        rows stay unpublished for the next round, whose recovery finds what did land."""
        async with pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.ALERTS_PUBLISH)
            try:
                await self.recover(conn)
                return await self._produce_pending(conn)
            except Exception:
                await self._new_producer()
                raise
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", AdvisoryLock.ALERTS_PUBLISH)

    async def _produce_pending(self, conn: asyncpg.Connection) -> int:
        assert self._producer is not None
        total = 0
        while True:
            rows = await conn.fetch(ledger.PENDING, self._batch)
            if not rows:
                return total
            ends = await self._send(rows)
            await ledger.mark(conn, self._topic, [int(r["sequence"]) for r in rows], ends)
            now = time.time()
            for row in rows:
                if not row["backfill"]:
                    self._metrics.latency.observe(max(0.0, now - row["committed_at"].timestamp()))
            self._metrics.published.inc(len(rows))
            total += len(rows)
            if len(rows) < self._batch:
                return total

    async def _send(self, rows: Sequence[asyncpg.Record]) -> dict[int, int]:
        """Produce ``rows`` in order, as batches per partition (a future per batch, not
        per record: at a fan-out of thousands of alerts a second this loop is the cost);
        wait for every ack. Returns partition -> the offset past its last record."""
        producer = self._producer
        assert producer is not None
        partitions = sorted(await producer.partitions_for(self._topic))
        where: dict[bytes, int] = {}
        marks: dict[str, str] = {}
        filling: dict[int, tuple[Any, int]] = {}  # partition -> (batch, records in it)
        sent: list[tuple[asyncio.Future[Any], int]] = []

        async def flush(partition: int) -> None:
            batch, count = filling.pop(partition)
            future = await producer.send_batch(batch, self._topic, partition=partition)
            sent.append((future, count))

        for row in rows:
            key = row["saved_search_id"].encode()
            partition = where.get(key)
            if partition is None:  # the default partitioner's choice, once per key
                partition = where[key] = self._partitioner(key, partitions, partitions)
            value = ledger.alert_of(row, marks).SerializeToString()
            for _ in range(2):
                if partition not in filling:
                    filling[partition] = (producer.create_batch(), 0)
                batch, count = filling[partition]
                if batch.append(key=key, value=value, timestamp=None) is not None:
                    filling[partition] = (batch, count + 1)
                    break
                if count == 0:
                    raise ValueError(f"alert {row['sequence']} does not fit in a batch")
                await flush(partition)
        for partition in list(filling):
            await flush(partition)
        ends: dict[int, int] = {}
        for future, count in sent:
            meta = await future
            ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + count)
        return ends

    async def recover(self, conn: asyncpg.Connection) -> int:
        """Mark published the ledger rows whose records are on the topic past the
        checkpoint; move the checkpoint to the log end. Returns the rows marked."""
        assert self._meta is not None
        assert self._producer is not None
        partitions = await self._producer.partitions_for(self._topic)
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        if not tps:
            return 0
        ends = await self._meta.end_offsets(tps)
        known = await ledger.checkpoint(conn, self._topic)
        starts = await self._meta.beginning_offsets(tps)
        todo = {
            tp: (max(known.get(tp.partition, 0), starts[tp]), end)
            for tp, end in ends.items()
            if max(known.get(tp.partition, 0), starts[tp]) < end
        }
        if not todo:
            return 0
        sequences = await self._read(todo)
        marked = await ledger.mark(
            conn, self._topic, sequences, {tp.partition: end for tp, (_, end) in todo.items()}
        )
        self._metrics.recovered.inc(marked)
        log.info(
            "alerts found on the topic past the checkpoint", records=len(sequences), marked=marked
        )
        return marked

    async def _read(self, todo: dict[TopicPartition, tuple[int, int]]) -> Sequence[int]:
        """The sequences of the Alert records in the offset ranges ``todo``."""
        reader = kafka.consumer(self._settings, "alerts-recover", auto_offset_reset="earliest")
        await reader.start()
        sequences: list[int] = []
        try:
            reader.assign(list(todo))
            for tp, (start, _) in todo.items():
                reader.seek(tp, start)
            left = {tp for tp, (start, end) in todo.items() if start < end}
            while left:
                batch = await reader.getmany(*left, timeout_ms=1000)
                for tp, records in batch.items():
                    for record in records:
                        if record.offset < todo[tp][1] and record.value is not None:
                            try:
                                sequences.append(alerts_pb2.Alert.FromString(record.value).sequence)
                            except DecodeError:
                                log.warning(
                                    "undecodable record on the alerts topic", offset=record.offset
                                )
                for tp in list(left):
                    if await reader.position(tp) >= todo[tp][1]:
                        left.discard(tp)
        finally:
            await reader.stop()
        return sequences
