"""One batch, end to end: decode, write, dead-letter, invalidate -- then report it done.

:meth:`BatchSink.process` returns only when every record of the batch is durable: its
event committed in PostgreSQL (or stale), or the record acked by the dead-letter topic,
and the invalidation event acked. Only then may the caller mark the offsets done.
Per-record problems never raise; transient failures are retried forever here (the
offsets are held meanwhile); anything else is a bug and propagates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from streams.dead_letters import DeadLetters
from streams.invalidations import Invalidations
from streams.metrics import SinkMetrics
from streams.sink.errors import is_connection_error
from streams.sink.records import Decoded, PartitionCount, Record, decode_records
from streams.sink.retry import retry_transient
from streams.sink.writer import PostingsWriter, WriteResult

log = structlog.get_logger("streams.sink")


@dataclass(frozen=True)
class BatchOutcome:
    events: int
    changed: int
    stale: int
    dead_lettered: int
    seconds: float


def dedupe(decoded: Sequence[Decoded]) -> tuple[list[Decoded], dict[str, list[Decoded]]]:
    """Highest version per posting id (earliest in the log on a tie), plus the runners-up.

    Only the winner is written; the runners-up, best first, stand in if the database
    rejects the winner's data, so the result equals applying the events one by one.
    """
    by_id: dict[str, list[Decoded]] = {}
    for item in decoded:
        by_id.setdefault(item.event.id, []).append(item)
    winners: list[Decoded] = []
    fallbacks: dict[str, list[Decoded]] = {}
    for posting_id, items in by_id.items():
        if len(items) > 1:
            items.sort(key=lambda d: (-d.event.version, d.seq))
            fallbacks[posting_id] = items[1:]
        winners.append(items[0])
    return winners, fallbacks


class BatchSink:
    def __init__(
        self,
        *,
        writer: PostingsWriter,
        dead_letters: DeadLetters,
        invalidations: Invalidations,
        metrics: SinkMetrics,
        dim: int,
        partitions: PartitionCount,
        pack_max: int,
        retry_max_s: float,
    ) -> None:
        self.writer = writer
        self.dead_letters = dead_letters
        self.invalidations = invalidations
        self.metrics = metrics
        self.dim = dim
        self.partitions = partitions
        self.pack_max = pack_max
        self.retry_max_s = retry_max_s

    async def process(self, records: Sequence[Record]) -> BatchOutcome:
        started = time.perf_counter()
        m = self.metrics
        decoded, poison = decode_records(
            list(records), dim=self.dim, partitions=self.partitions, pack_max=self.pack_max
        )
        undecodable = len(poison)
        winners, fallbacks = dedupe(decoded)

        async def on_db_retry(exc: BaseException) -> None:
            m.retries.labels("database").inc()
            if is_connection_error(exc):
                await self.writer.reset()

        result: WriteResult = await retry_transient(
            lambda: self.writer.write(winners, _copy(fallbacks)),
            what="write batch to postgres",
            max_wait_s=self.retry_max_s,
            on_retry=on_db_retry,
        )
        poison += result.rejected
        await retry_transient(
            lambda: self.dead_letters.send(poison),
            what="send dead letters",
            max_wait_s=self.retry_max_s,
            on_retry=lambda _: m.retries.labels("dead_letters").inc(),
        )
        if result.outbox_id is not None and result.outbox_payload is not None:
            outbox_id, payload = result.outbox_id, result.outbox_payload

            async def publish() -> None:
                await self.invalidations.publish(await self.writer.pool(), outbox_id, payload)

            await retry_transient(
                publish,
                what="publish invalidation",
                max_wait_s=self.retry_max_s,
                on_retry=lambda _: m.retries.labels("invalidations").inc(),
            )
            m.invalidations.inc()

        seconds = time.perf_counter() - started
        deletes = sum(1 for c in result.changed if c.deleted)
        events = len(decoded) + undecodable
        stale = len(decoded) - len(result.changed) - len(result.rejected)
        m.consumed.inc(events)
        m.upserted.labels("upsert").inc(len(result.changed) - deletes)
        m.upserted.labels("delete").inc(deletes)
        m.stale.inc(stale)
        for item in poison:
            m.dead_lettered.labels(item.error_class).inc()
        m.batch_seconds.observe(seconds)
        m.batch_events.observe(events)
        return BatchOutcome(events, len(result.changed), stale, len(poison), seconds)


def _copy(fallbacks: dict[str, list[Decoded]]) -> dict[str, list[Decoded]]:
    """The writer consumes runners-up; a retried write must start from the full lists."""
    return {k: list(v) for k, v in fallbacks.items()}
