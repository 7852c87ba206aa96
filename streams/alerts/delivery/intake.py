"""alerts.v1 -> a channel's delivery ledger, in the channel's own consumer group.

Per batch: decode (a record that is not an Alert is logged and skipped: anyone with
produce rights could write it), let the channel queue what concerns it in one
transaction (its INSERTs are ON CONFLICT DO NOTHING), and only then commit the offsets.
A crash in between re-reads the batch and queues nothing new. Any Kafka or PostgreSQL
failure: log, wait, start over from the committed offsets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from aiokafka import TopicPartition
from google.protobuf.message import DecodeError

from schemas import kafka
from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings

log = structlog.get_logger("streams.alerts.delivery.intake")
RETRY_S = 2.0
BATCH_MAX = 1000


@dataclass(frozen=True)
class Incoming:
    """One alert as read: decoded, its exact bytes (for a dead letter) and where from."""

    alert: alerts_pb2.Alert
    value: bytes
    source: str  # "<topic>:<partition>:<offset>"


Queue = Callable[[Any, Sequence[Incoming]], Awaitable[int]]
"""``queue(conn, alerts)`` inside a transaction; returns how many rows it added."""


def decode(record: Any) -> Incoming | None:
    value = record.value
    try:
        alert = alerts_pb2.Alert.FromString(value or b"")
    except DecodeError:
        alert = None
    if alert is None or not alert.id or not alert.saved_search_id:
        log.warning(
            "skipping a record that is not an Alert",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        return None
    return Incoming(alert, value, f"{record.topic}:{record.partition}:{record.offset}")


async def saved_searches(conn: Any, ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The delivery columns of these saved searches (deleted ones too), by id."""
    rows = await conn.fetch(
        "SELECT id, webhook_url, email, email_schedule, deleted FROM saved_searches "
        "WHERE id = ANY($1::text[])",
        list(set(ids)),
    )
    return {r["id"]: r for r in rows}


class Intake:
    """Reads alerts.v1 in ``group`` forever, queueing each batch through ``queue``."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        group: str,
        channel: str,
        queue: Queue,
        on_queued: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self.settings, self.pool, self.group, self.channel = settings, pool, group, channel
        self.queue, self.on_queued = queue, on_queued

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("alert intake failed; restarting", channel=self.channel, error=str(exc))
                await asyncio.sleep(RETRY_S)

    async def _consume(self) -> None:
        consumer = kafka.consumer(
            self.settings,
            f"alerts-{self.channel}",
            group_id=self.group,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.subscribe([self.settings.topic_alerts])
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=BATCH_MAX)
                if not batch:
                    continue
                items = [i for records in batch.values() for r in records if (i := decode(r))]
                if items:
                    async with self.pool.acquire() as conn, conn.transaction():
                        added = await self.queue(conn, items)
                    self.on_queued(added)
                offsets = {
                    TopicPartition(tp.topic, tp.partition): records[-1].offset + 1
                    for tp, records in batch.items()
                    if records
                }
                await consumer.commit(offsets)
        finally:
            await consumer.stop()
