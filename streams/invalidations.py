"""Cache-invalidation events: one per committed batch, naming what changed (invariant 6 in
docs/architecture.md).

The event is written to ``invalidation_outbox`` inside the batch's transaction and
published to cache-invalidation.v1 only after the commit; the row is deleted once Kafka
acked it. So an invalidation is never announced for a change that rolled back, and a
worker killed between commit and publish cannot lose it: :meth:`Invalidations.relay`
re-publishes leftover rows (duplicates are harmless: invalidating twice is idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from schemas.db.outbox import OUTBOX_PENDING
from schemas.jobstream.v1 import events_pb2
from schemas.tracing import kafka_headers
from streams.sink import sql

log = structlog.get_logger("streams.invalidations")


@dataclass(frozen=True, slots=True)
class Changed:
    """A posting the batch changed, at its new version (``deleted`` for a tombstone)."""

    id: str
    version: int
    deleted: bool


def build_invalidation(changed: Sequence[Changed], *, source: str) -> events_pb2.Invalidation:
    msg = events_pb2.Invalidation(
        postings=[
            events_pb2.ChangedPosting(id=c.id, version=c.version, deleted=c.deleted)
            for c in changed
        ],
        source=source,
    )
    msg.committed_at.FromDatetime(datetime.now(UTC))
    return msg


class Invalidations:
    """Publishes outbox rows to cache-invalidation.v1 and deletes them once acked."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def publish(self, pool: asyncpg.Pool, outbox_id: int, payload: bytes) -> None:
        """Send one event (acks=all) carrying the current trace context (the batch's
        span), then drop its outbox row."""
        await self._producer.send_and_wait(self._topic, payload, headers=kafka_headers())
        await pool.execute(sql.OUTBOX_DELETE, [outbox_id])

    async def relay(self, pool: asyncpg.Pool, *, older_than_s: float, limit: int = 1000) -> int:
        """Re-publish rows a crashed worker left behind; returns how many were sent."""
        rows = await pool.fetch(OUTBOX_PENDING, older_than_s, limit)
        if not rows:
            return 0
        futures = [await self._producer.send(self._topic, bytes(r["payload"])) for r in rows]
        for future in futures:
            await future
        await pool.execute(sql.OUTBOX_DELETE, [r["id"] for r in rows])
        log.info("relayed leftover invalidations", count=len(rows))
        return len(rows)
