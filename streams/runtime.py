"""A worker's resources and its sink loop: what the Faust agent and timers call into.

The loop takes up to ``sink_batch_max`` events (waiting at most ``sink_batch_wait_s``)
with ``noack_take`` -- Faust's acks play no part in committing (see
:mod:`streams.checkpointing.consumer`) -- makes the whole batch durable with
:class:`~streams.sink.batch.BatchSink`, and only then marks its offsets done and asks the
consumer to commit. Batches run one at a time, so per-partition order is kept. A
per-record problem never raises; an unexpected exception is a bug: the worker crashes
(exit code != 0) rather than skip events, and its successor resumes from the last
checkpoint.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterable, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from schemas import kafka
from schemas.db.migrate import migrate
from schemas.settings import Settings
from streams.checkpointing import Checkpoints
from streams.dead_letters import DeadLetters
from streams.flow import ByteBudget
from streams.index import IndexPolicy, VectorIndexManager
from streams.invalidations import Invalidations
from streams.metrics import SinkMetrics
from streams.sink.batch import BatchSink
from streams.sink.records import chunks, record_of
from streams.sink.retry import retry_transient
from streams.sink.writer import PostingsWriter

log = structlog.get_logger("streams.worker")

# Bytes of records taken but not yet durable (Faust's own buffers count records).


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SinkRuntime:
    """Everything one worker process owns besides the Faust app itself."""

    def __init__(self, settings: Settings, app: Any, metrics: SinkMetrics | None = None) -> None:
        self.settings = settings
        self.app = app
        self.metrics = metrics or SinkMetrics()
        self.source = worker_id()
        self.writer = PostingsWriter(
            settings.postgres_dsn, dim=settings.embedding_dim, source=self.source
        )
        self.index = VectorIndexManager(
            settings.postgres_dsn, IndexPolicy(min_rows=settings.vector_index_min_rows)
        )
        self.budget = ByteBudget(settings.worker_batch_max_bytes)
        self.producer: AIOKafkaProducer | None = None
        self.sink: BatchSink | None = None
        self._started = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Migrate, open the pool and the producer; retried until the services answer."""
        s = self.settings
        await retry_transient(self._migrate, what="migrate database", max_wait_s=s.sink_retry_max_s)
        await retry_transient(self.writer.pool, what="connect postgres", max_wait_s=5.0)
        self.producer = kafka.producer(s, f"sink-{self.source}", linger_ms=5)
        await retry_transient(self.producer.start, what="start producer", max_wait_s=5.0)
        self.sink = BatchSink(
            writer=self.writer,
            dead_letters=DeadLetters(self.producer, s.topic_dead_letters, group=s.consumer_group),
            invalidations=Invalidations(self.producer, s.topic_invalidations),
            metrics=self.metrics,
            dim=s.embedding_dim,
            partitions=self._partition_count,
            pack_max=s.pack_max_events,
            retry_max_s=s.sink_retry_max_s,
        )
        self._started.set()
        await self.relay_invalidations(older_than_s=0.0)
        log.info("sink ready", worker=self.source, group=s.consumer_group, topic=s.topic_postings)

    async def stop(self) -> None:
        self._started.clear()
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()
        await self.writer.close()

    async def _migrate(self) -> None:
        conn = await asyncpg.connect(self.settings.postgres_dsn, timeout=10)
        try:
            applied = await migrate(conn, embedding_dim=self.settings.embedding_dim)
            if applied:
                log.info("migrations applied", versions=applied)
        finally:
            await conn.close()

    # --- the agent ----------------------------------------------------------------------
    async def consume(self, stream: Any) -> None:
        """The agent body: batches until the stream stops. Never returns on its own."""
        await self.start()
        stream.add_processor(self.budget.admit)  # runs before the take buffer's processor
        try:
            batches: AsyncIterable[Sequence[Any]] = stream.noack_take(
                self.settings.sink_batch_max, within=self.settings.sink_batch_wait_s
            )
            async for events in batches:
                try:
                    await self.handle(events)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug, not a record: stop rather than skip
                    log.exception("sink batch failed unexpectedly; crashing the worker")
                    await self.app.crash(exc)
                    raise
        finally:
            await self.stop()

    async def handle(self, events: Sequence[Any]) -> None:
        """Make the taken records durable -- one transaction per ``sink_batch_max`` events
        (a pack carries many) -- marking each chunk's offsets done, then commit them."""
        assert self.sink is not None
        consumer = self.app.consumer
        checkpoints: Checkpoints = consumer.checkpoints
        records = [record_of(event.message) for event in events]
        for chunk in chunks(records, self.settings.sink_batch_max):
            outcome = await self.sink.process(chunk)
            by_tp: dict[tuple[str, int], list[int]] = {}
            for r in chunk:
                by_tp.setdefault((r.topic, r.partition), []).append(r.offset)
            for tp, offsets in by_tp.items():
                checkpoints.mark_done(tp, offsets)
            log.debug(
                "batch done",
                records=len(chunk),
                events=outcome.events,
                changed=outcome.changed,
                stale=outcome.stale,
                dead_lettered=outcome.dead_lettered,
                ms=round(outcome.seconds * 1000, 1),
            )
        await consumer.commit()
        self.budget.release(sum(len(r.value) for r in records if r.value))
        self.update_lag()

    # --- timers -------------------------------------------------------------------------
    def update_lag(self) -> None:
        """Log end minus checkpoint for each partition this worker owns (others dropped)."""
        consumer = self.app.consumer
        checkpoints: Checkpoints = consumer.checkpoints
        self.metrics.lag.clear()
        for tp in consumer.assignment():
            if tp.topic != self.settings.topic_postings:
                continue
            try:
                end = consumer.highwater(tp)
            except Exception:  # not fetched yet
                continue
            done = checkpoints.committable(tp)
            if end is None or done is None:
                continue
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, end - done))

    async def relay_invalidations(self, *, older_than_s: float = 10.0) -> None:
        if self._started.is_set() and self.sink is not None:
            await self.sink.relay_leftovers(older_than_s=older_than_s)

    async def check_index(self) -> None:
        if not self._started.is_set():
            return
        try:
            action = await self.index.check()
        except Exception as exc:  # never let index upkeep disturb the sink
            log.warning("vector index check failed", error=repr(exc))
            return
        if action:
            self.metrics.index_builds.labels(action).inc()

    def _partition_count(self, topic: str) -> int | None:
        try:
            count = self.app.consumer.topic_partitions(topic)
        except Exception:
            return None
        return count if isinstance(count, int) and count > 0 else None
