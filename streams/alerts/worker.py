"""An alerts worker: the saved-search materialiser, the matcher and the publisher in one
process (``python -m streams.alerts``).

The matcher reads cache-invalidation.v1 in its own consumer group
(``alerts_consumer_group``); workers of the group share its partitions. Each poll: decode
(a record that is no Invalidation is counted and skipped), match in chunks of
``alerts_match_batch_max`` postings (:mod:`.matcher`, against the saved searches held in
memory and refreshed from the table first), publish the ledger's unpublished
rows (:mod:`.publisher`), and only then commit the poll's offsets -- so a kill -9
anywhere replays at most the uncommitted poll, which the ledger makes harmless. A
database or Kafka failure is retried with the offsets held. Matching starts once the
materialiser has loaded saved-searches.v1 as it was at start, so a restart never
matches against a half-loaded table. SIGTERM finishes the poll in hand and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError
from google.protobuf.message import DecodeError

from schemas import kafka
from schemas.db.migrate import migrate
from schemas.jobstream.v1 import events_pb2
from schemas.search import synonyms
from schemas.settings import Settings
from streams.alerts.backfill import alias_params
from streams.alerts.candidates import CandidateIndex, refresh
from streams.alerts.matcher import Change, Proposal, propose, verify
from streams.alerts.metrics import AlertMetrics
from streams.alerts.publisher import Publisher
from streams.sink.writer import register_vector_bytes

log = structlog.get_logger("streams.alerts.worker")

POLL_MS = 200
PUBLISH_EVERY_S = 1.0  # backfill rows appear without an invalidation
RELOAD_EVERY_S = 600.0  # a full reload drops rows deleted from the table (a rebuild)
RETRY_MAX_S = 5.0
MAX_ID = 256
TRANSIENT = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, KafkaError)


def changes_of(value: bytes | None, metrics: AlertMetrics) -> list[Change]:
    """The postings one cache-invalidation.v1 record names; [] for a bad record."""
    try:
        msg = events_pb2.Invalidation.FromString(value or b"")
    except (DecodeError, ValueError):
        metrics.bad_invalidations.inc()
        return []
    try:
        committed = msg.committed_at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        committed = datetime.now(UTC)
    if not msg.HasField("committed_at"):
        committed = datetime.now(UTC)
    out = [
        Change(c.id, c.version, c.deleted, committed)
        for c in msg.postings
        if 0 < len(c.id) <= MAX_ID and "\x00" not in c.id and c.version >= 0
    ]
    if len(out) < len(msg.postings):
        metrics.bad_invalidations.inc()
    return out


class AlertsWorker:
    """One worker's resources and loop; see the module docstring."""

    def __init__(
        self, settings: Settings, metrics: AlertMetrics | None = None, *, materialise: bool = True
    ) -> None:
        self.settings = settings
        self.metrics = metrics or AlertMetrics()
        self.publisher = Publisher(settings, self.metrics)
        self._materialise = materialise
        self._stop = asyncio.Event()
        self._index = CandidateIndex(settings.embedding_dim)
        self._loaded_at = 0.0

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Until :meth:`stop`: start up, then poll, match, publish, commit."""
        await _retry(self._migrate, "migrate database")
        pool: asyncpg.Pool = await _retry(
            lambda: asyncpg.create_pool(
                self.settings.postgres_dsn, min_size=1, max_size=3, init=register_vector_bytes
            ),
            "connect postgres",
        )
        tasks: list[asyncio.Task[Any]] = []
        consumer: AIOKafkaConsumer | None = None
        try:
            if self._materialise:
                tasks.append(await self._start_materialiser())
            await _retry(self.publisher.start, "start alerts publisher")
            await _retry(lambda: self.publisher.publish(pool), "publish leftover alerts")
            consumer = kafka.consumer(
                self.settings,
                "alerts",
                group_id=self.settings.alerts_consumer_group,
                auto_offset_reset="earliest",
            )
            consumer.subscribe([self.settings.topic_invalidations])
            await _retry(consumer.start, "start invalidation consumer")
            log.info(
                "alerts worker ready",
                group=self.settings.alerts_consumer_group,
                topic=self.settings.topic_invalidations,
            )
            await self._loop(consumer, pool)
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if consumer is not None:
                await consumer.stop()
            await self.publisher.stop()
            await pool.close()

    async def _start_materialiser(self) -> asyncio.Task[Any]:
        from streams.alerts.saved import Materialiser, MaterialiserMetrics

        materialiser = Materialiser(
            self.settings, metrics=MaterialiserMetrics(registry=self.metrics.registry)
        )
        task = asyncio.create_task(materialiser.run(), name="saved-search-materialiser")
        while not materialiser.is_caught_up:
            if task.done():
                task.result()  # its failure, raised here
            with contextlib.suppress(TimeoutError):
                await materialiser.caught_up(timeout_s=5.0)
            if not materialiser.is_caught_up:
                log.info("waiting for the saved searches to load")
        return task

    async def _migrate(self) -> None:
        conn = await asyncpg.connect(self.settings.postgres_dsn, timeout=10)
        try:
            await migrate(conn, embedding_dim=self.settings.embedding_dim)
        finally:
            await conn.close()

    async def _loop(self, consumer: AIOKafkaConsumer, pool: asyncpg.Pool) -> None:
        published_at = 0.0
        while not self._stop.is_set():
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=500)
            if batch:
                started = time.perf_counter()
                changes = [
                    c
                    for rs in batch.values()
                    for r in rs
                    for c in changes_of(r.value, self.metrics)
                ]
                await _retry(partial(self._match, pool, changes), "match postings", self._stop)
                matched = time.perf_counter()
                self.metrics.stage_seconds.labels("match").observe(matched - started)
                await _retry(lambda: self.publisher.publish(pool), "publish alerts", self._stop)
                self.metrics.stage_seconds.labels("publish").observe(time.perf_counter() - matched)
                published_at = time.monotonic()
                offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items() if rs}
                try:
                    await consumer.commit(offsets)
                except CommitFailedError as exc:  # rebalanced: the next owner replays it
                    log.warning("offset commit failed; the poll will be replayed", error=str(exc))
                self.metrics.batch_seconds.observe(time.perf_counter() - started)
                await self._update_lag(consumer)
            elif time.monotonic() - published_at >= PUBLISH_EVERY_S:
                published_at = time.monotonic()
                try:
                    await self.publisher.publish(pool)
                except TRANSIENT as exc:
                    log.warning("publishing failed; retrying", error=repr(exc))
                await self._update_lag(consumer)

    async def _match(self, pool: asyncpg.Pool, changes: Sequence[Change]) -> None:
        """Refresh the index, then match ``changes`` in chunks, pipelined: the next
        chunk's candidates are computed while PostgreSQL verifies this one's."""
        aliases = alias_params(synonyms.active())
        step = self.settings.alerts_match_batch_max
        chunks = [changes[i : i + step] for i in range(0, len(changes), step)]
        async with pool.acquire() as conn:
            full = time.monotonic() - self._loaded_at >= RELOAD_EVERY_S
            read = await refresh(conn, self._index, full=full)
        if full:
            self._loaded_at = time.monotonic()
            log.info("saved searches loaded", rows=read, held=len(self._index))
        self.metrics.saved_held.set(len(self._index))
        ahead: asyncio.Task[Proposal] | None = None
        try:
            for n, chunk in enumerate(chunks):
                proposal = await (ahead or self._propose(pool, chunk, aliases))
                ahead = None
                if n + 1 < len(chunks):
                    ahead = asyncio.create_task(self._propose(pool, chunks[n + 1], aliases))
                async with pool.acquire() as conn:
                    done = await verify(conn, proposal, aliases)
                self.metrics.postings.inc(done.postings)
                self.metrics.candidates.inc(done.candidates)
                self.metrics.matches.inc(done.alerts)
                self.metrics.closed.inc(done.closed)
        finally:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead

    async def _propose(
        self, pool: asyncpg.Pool, chunk: Sequence[Change], aliases: tuple[list[str], list[str]]
    ) -> Proposal:
        async with pool.acquire() as conn:
            return await propose(conn, chunk, aliases, self._index)

    async def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is not None:
                position = await consumer.position(tp)
                self.metrics.lag.labels(str(tp.partition)).set(max(0, end - position))


async def _retry(fn: Any, what: str, stop: asyncio.Event | None = None) -> Any:
    """``await fn()`` until it succeeds, backing off on transient failures."""
    delay = 0.2
    while True:
        try:
            return await fn()
        except TRANSIENT as exc:
            if stop is not None and stop.is_set():
                raise
            log.warning("transient failure; retrying", operation=what, error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX_S, delay * 2)


def run(settings: Settings) -> None:
    """The process: logging, metrics server, the worker until SIGTERM/SIGINT."""
    from schemas.logs import configure

    configure(settings.log_level)
    metrics = AlertMetrics()
    port = metrics.serve(settings.alerts_metrics_port, settings.metrics_host)
    log.info("alerts metrics", port=port)
    worker = AlertsWorker(settings, metrics)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    asyncio.run(main())
