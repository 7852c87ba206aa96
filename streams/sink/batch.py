"""One batch, end to end: decode, write, dead-letter, invalidate -- then report it done.

:meth:`BatchSink.process` returns only when every record of the batch is durable: its
event committed in PostgreSQL (or stale), or the record acked by the dead-letter topic,
and the invalidation event acked. Only then may the caller mark the offsets done.
Per-record problems never raise; transient failures are retried forever here (the
offsets are held meanwhile); anything else is a bug and propagates.

Each batch is a span ("sink batch") linked to the trace contexts its records carry (a
batch mixes the batches of many producers, so none is its parent); the invalidation it
publishes carries the span's context (:mod:`schemas.tracing`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from schemas.domain import VersionReset
from schemas.tracing import linked_span
from streams.dead_letters import DeadLetters
from streams.invalidations import Invalidations
from streams.metrics import SinkMetrics
from streams.sink.errors import is_connection_error
from streams.sink.records import Decoded, PartitionCount, Record, decode_records
from streams.sink.retry import retry_transient
from streams.sink.writer import PostingsWriter, WriteResult

log = structlog.get_logger("streams.sink")
TRACE_SCOPE = "jobstream.streams"


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


@dataclass
class Round:
    """What one write applies: the deduped events, then the version resets."""

    winners: list[Decoded]
    fallbacks: dict[str, list[Decoded]]
    resets: list[Decoded] = field(default_factory=list)


def rounds(decoded: Sequence[Decoded]) -> list[Round]:
    """The batch as writes whose outcome equals applying its events one by one in log order.

    Without version resets that is one round (:func:`dedupe`). A reset applies after the
    posting's earlier events and before its later ones, so an event of a posting that
    follows a reset of it in the batch starts a new round; a later reset of the same
    posting in a round replaces the earlier one. Resets are rare (operator commands).
    """
    groups: list[tuple[list[Decoded], dict[str, Decoded]]] = [([], {})]
    for item in decoded:
        events, resets = groups[-1]
        if isinstance(item.event, VersionReset):
            resets[item.event.id] = item
            continue
        if item.event.id in resets:
            events, resets = [], {}
            groups.append((events, resets))
        events.append(item)
    return [Round(*dedupe(events), list(resets.values())) for events, resets in groups]


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
        with linked_span(
            TRACE_SCOPE,
            "sink batch",
            (r.headers for r in records),
            {"jobstream.records": len(records)},
        ) as span:
            outcome = await self._process(records)
            span.set_attributes(
                {
                    "jobstream.events": outcome.events,
                    "jobstream.changed": outcome.changed,
                    "jobstream.stale": outcome.stale,
                    "jobstream.dead_lettered": outcome.dead_lettered,
                }
            )
        return outcome

    async def _process(self, records: Sequence[Record]) -> BatchOutcome:
        started = time.perf_counter()
        m = self.metrics
        decoded, poison = decode_records(
            list(records), dim=self.dim, partitions=self.partitions, pack_max=self.pack_max
        )
        undecodable = len(poison)

        # One transaction per round: one unless version resets interleave with events.
        results = [await self._write(step) for step in rounds(decoded)]
        changed = [c for result in results for c in result.changed]
        rejected = [p for result in results for p in result.rejected]
        poison += rejected
        await retry_transient(
            lambda: self.dead_letters.send(poison),
            what="send dead letters",
            max_wait_s=self.retry_max_s,
            on_retry=lambda _: m.retries.labels("dead_letters").inc(),
        )
        for result in results:
            await self._publish(result)

        seconds = time.perf_counter() - started
        deletes = sum(1 for c in changed if c.deleted)
        events = len(decoded) + undecodable
        stale = max(0, len(decoded) - len(changed) - len(rejected))
        m.consumed.inc(events)
        m.upserted.labels("upsert").inc(len(changed) - deletes)
        m.upserted.labels("delete").inc(deletes)
        m.stale.inc(stale)
        for item in poison:
            m.dead_lettered.labels(item.error_class).inc()
        m.batch_seconds.observe(seconds)
        m.batch_events.observe(events)
        return BatchOutcome(events, len(changed), stale, len(poison), seconds)

    async def _write(self, step: Round) -> WriteResult:
        """One round, retried while PostgreSQL is unavailable (offsets held meanwhile).

        A connection lost during COMMIT leaves the outcome unknown: the attempt may have
        committed, outbox row included, and the retry then finds nothing to change. So
        after such a loss the outbox's leftovers are published at once -- not at the
        next relay round, seconds later, while the API caches serve the old versions."""
        lost = False

        async def on_db_retry(exc: BaseException) -> None:
            nonlocal lost
            self.metrics.retries.labels("database").inc()
            if is_connection_error(exc):
                lost = True
                await self.writer.reset()

        result: WriteResult = await retry_transient(
            lambda: self.writer.write(step.winners, _copy(step.fallbacks), step.resets),
            what="write batch to postgres",
            max_wait_s=self.retry_max_s,
            on_retry=on_db_retry,
        )
        if lost:
            await self.relay_leftovers(older_than_s=0.0)
        return result

    async def relay_leftovers(self, *, older_than_s: float) -> None:
        """Publish outbox rows older than ``older_than_s`` (a crashed worker's, or a lost
        COMMIT's); best effort: the rows stay for the next round."""
        try:
            sent = await self.invalidations.relay(
                await self.writer.pool(), older_than_s=older_than_s
            )
        except Exception as exc:
            if is_connection_error(exc):
                await self.writer.reset()
            log.warning("invalidation relay failed", error=repr(exc))
            return
        self.metrics.invalidations.inc(sent)

    async def _publish(self, result: WriteResult) -> None:
        """The write's invalidation, once its outbox row is committed (invariant 6 in
        docs/architecture.md)."""
        if result.outbox_id is None or result.outbox_payload is None:
            return
        outbox_id, payload = result.outbox_id, result.outbox_payload

        async def publish() -> None:
            await self.invalidations.publish(await self.writer.pool(), outbox_id, payload)

        await retry_transient(
            publish,
            what="publish invalidation",
            max_wait_s=self.retry_max_s,
            on_retry=lambda _: self.metrics.retries.labels("invalidations").inc(),
        )
        self.metrics.invalidations.inc()


def _copy(fallbacks: dict[str, list[Decoded]]) -> dict[str, list[Decoded]]:
    """The writer consumes runners-up; a retried write must start from the full lists."""
    return {k: list(v) for k, v in fallbacks.items()}
