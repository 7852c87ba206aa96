"""The saved-search materialiser: saved-searches.v1 -> ``saved_searches``, then backfill.

The topic is the truth and compacted, so it is read with plain aiokafka (never Faust,
which mishandles compaction's offset gaps), every partition assigned, no group: each
alerts worker keeps the whole table current, as each API instance keeps the whole key
ring (schemas/auth/ring.py). It starts where the table says it stopped (one past the
newest offset applied per partition), so a restart reads only what is new, and a fresh
or rebuilt table is read from the beginning.

Each batch goes through :func:`streams.alerts.apply.apply`: decode (a bad record is
logged, counted by reason and skipped), upsert with the newer-position-wins rule, then
backfill the saved searches that were new. Any failure of Kafka or PostgreSQL: log, wait, start
over from the table's positions (idempotent). :meth:`Materialiser.caught_up` resolves
once the end offsets seen at start are applied: the matcher waits for it, so it never
matches against a half-loaded table.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge

from schemas import kafka
from schemas.settings import Settings
from schemas.topics import create_missing, topic_spec
from streams.alerts import store
from streams.alerts.apply import Applied, apply
from streams.sink.writer import register_vector_bytes

log = structlog.get_logger("streams.alerts.saved")
POLL_MS = 500
RETRY_S = 1.0


@dataclass
class MaterialiserMetrics:
    """Prometheus metrics of the materialiser, in the worker's registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.applied = Counter(
            "jobstream_alerts_saved_searches_applied",
            "saved-searches.v1 records written to saved_searches (kind: upsert or delete).",
            ["kind"],
            registry=r,
        )
        self.stale = Counter(
            "jobstream_alerts_saved_searches_stale",
            "Records skipped: the row was read from a newer position already.",
            registry=r,
        )
        self.bad = Counter(
            "jobstream_alerts_saved_searches_bad_records",
            "Records skipped as no usable saved search, by reason.",
            ["reason"],
            registry=r,
        )
        self.backfilled = Counter(
            "jobstream_alerts_backfilled", "Backfill alerts put into the ledger.", registry=r
        )
        self.lag = Gauge(
            "jobstream_alerts_materialiser_lag",
            "saved-searches.v1 records not yet read by the materialiser.",
            registry=r,
        )


class Materialiser:
    """Keeps ``saved_searches`` equal to saved-searches.v1; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        backfill_enabled: bool = True,
        metrics: MaterialiserMetrics | None = None,
        role: str = "alerts-saved",
    ) -> None:
        self._settings = settings
        self._backfill = backfill_enabled
        self.metrics = metrics or MaterialiserMetrics()
        self._role = role
        self._caught_up = asyncio.Event()
        self.totals = Applied()

    async def caught_up(self, timeout_s: float | None = None) -> None:
        """Return once the topic as it was at start is in the table (TimeoutError after
        ``timeout_s``)."""
        await asyncio.wait_for(self._caught_up.wait(), timeout_s)

    @property
    def is_caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def run(self) -> None:
        """Materialise for ever; failures are retried after a pause."""
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("saved searches: retrying after a failure", error=repr(exc))
                await asyncio.sleep(RETRY_S)

    async def _session(self) -> None:
        conn = await asyncpg.connect(self._settings.postgres_dsn, timeout=10)
        consumer: AIOKafkaConsumer | None = None
        try:
            await register_vector_bytes(conn)
            consumer, ends = await open_topic(
                self._settings, self._role, await store.positions(conn)
            )
            tps = list(ends)
            while True:
                batches = await consumer.getmany(*tps, timeout_ms=POLL_MS)
                records = [r for tp in tps for r in batches.get(tp, ())]
                if records:
                    self._count(
                        await apply(conn, records, self._settings, self._backfill, self.bad_record)
                    )
                behind = await _behind(consumer, ends)
                if not behind:
                    self._caught_up.set()
                    ends = await consumer.end_offsets(tps)  # keep the lag gauge honest
                    behind = await _behind(consumer, ends)
                self.metrics.lag.set(behind)
        finally:
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            with contextlib.suppress(Exception):
                await conn.close()

    def _count(self, done: Applied) -> None:
        m = self.metrics
        m.applied.labels("upsert").inc(done.upserted)
        m.applied.labels("delete").inc(done.deleted)
        m.stale.inc(done.stale)
        m.backfilled.inc(done.backfilled)
        self.totals.add(done)

    def bad_record(self, reason: str) -> None:
        self.metrics.bad.labels(reason).inc()


async def open_topic(
    settings: Settings, role: str, start: dict[int, int]
) -> tuple[AIOKafkaConsumer, dict[TopicPartition, int]]:
    """A started consumer on every partition of the topic, at ``start`` (partition ->
    offset; missing: the beginning), and the end offsets now."""
    topic = settings.topic_saved_searches
    admin = kafka.admin(settings, role, request_timeout_ms=10_000)
    await admin.start()
    try:
        await create_missing(admin, [topic_spec(settings, topic)])
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    numbers = sorted(p["partition"] for t in described for p in t["partitions"])
    if not numbers:
        raise RuntimeError(f"topic {topic} has no partitions yet")
    tps = [TopicPartition(topic, p) for p in numbers]
    consumer = kafka.consumer(settings, role, auto_offset_reset="earliest", fetch_max_wait_ms=100)
    await consumer.start()
    try:
        consumer.assign(tps)
        beginnings = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(start.get(tp.partition, 0), beginnings[tp]))
        ends = await consumer.end_offsets(tps)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, ends


async def positions_of(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    return {tp: await consumer.position(tp) for tp in consumer.assignment()}


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> int:
    """Records between the consumer's positions and ``ends``."""
    now = await positions_of(consumer)
    return sum(max(0, end - now[tp]) for tp, end in ends.items())


async def materialise(settings: Settings, materialiser: Materialiser | None = None) -> None:
    """Run a materialiser (a new one unless given) for ever: the alerts worker's task."""
    await (materialiser or Materialiser(settings)).run()
