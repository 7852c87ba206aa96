"""The saved-search materialiser: saved-searches.v1 -> ``saved_searches``, then backfill.

The topic is the truth and compacted, so it is read with plain aiokafka (never Faust,
which mishandles compaction's offset gaps), every partition assigned, no group: each
alerts worker keeps the whole table current, as each API instance keeps the whole key
ring (schemas/auth/ring.py). It starts where the table says it stopped (one past the
newest offset applied per partition), so a restart reads only what is new, and a fresh
or rebuilt table is read from the beginning.

Each batch: decode (a bad record is logged, counted by reason and skipped -- a record
can be anything another client wrote), upsert with the newer-position-wins rule
(:mod:`streams.alerts.store`), then backfill the saved searches that were new
(:mod:`streams.alerts.backfill`). Any failure of Kafka or PostgreSQL: log, wait, start
over from the table's positions (idempotent). :meth:`Materialiser.caught_up` resolves
once the end offsets seen at start are applied: the matcher waits for it, so it never
matches against a half-loaded table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry, Counter, Gauge

from schemas import kafka
from schemas.search import synonyms
from schemas.settings import Settings
from schemas.topics import create_missing, topic_spec
from streams.alerts import store
from streams.alerts.backfill import backfill
from streams.alerts.records import BadRecord, SavedRow, decode
from streams.sink.writer import register_vector_bytes

log = structlog.get_logger("streams.alerts.saved")
POLL_MS = 500
RETRY_S = 1.0
Record: TypeAlias = "ConsumerRecord[Any, Any]"


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


@dataclass
class Applied:
    """What one batch did."""

    upserted: int = 0
    deleted: int = 0
    stale: int = 0
    bad: int = 0
    backfilled: int = 0


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
        m, t = self.metrics, self.totals
        m.applied.labels("upsert").inc(done.upserted)
        m.applied.labels("delete").inc(done.deleted)
        m.stale.inc(done.stale)
        m.backfilled.inc(done.backfilled)
        for name in ("upserted", "deleted", "stale", "bad", "backfilled"):
            setattr(t, name, getattr(t, name) + getattr(done, name))

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


async def apply(
    conn: asyncpg.Connection,
    records: Iterable[Record],
    settings: Settings,
    backfill_enabled: bool,
    on_bad: Callable[[str], None] | None = None,
) -> Applied:
    """Write one batch of records (in log order per partition) and backfill new searches."""
    done = Applied()
    rows: list[tuple[Record, SavedRow | None]] = []
    for record in records:
        try:
            key = bytes(record.key) if record.key is not None else None
            if record.value is None:
                if key is None:
                    raise BadRecord("no_key", "a tombstone without a key")
                rows.append((record, None))
            else:
                rows.append((record, decode(key, bytes(record.value), settings.embedding_dim)))
        except BadRecord as exc:
            done.bad += 1
            log.warning(
                "saved searches: skipping a bad record",
                partition=record.partition,
                offset=record.offset,
                reason=exc.reason,
                detail=str(exc),
            )
            _bad(exc.reason, on_bad)
    if not rows:
        return done
    ids = [_id(record, row) for record, row in rows]
    before = await store.known(conn, ids)
    seen = dict(before)
    fresh: dict[str, SavedRow] = {}
    async with conn.transaction():
        for (record, row), search_id in zip(rows, ids, strict=True):
            position = (record.partition, record.offset)
            if search_id in seen and seen[search_id] >= position:
                done.stale += 1
                continue
            if row is None:
                if search_id in seen:
                    await conn.execute(store.TOMBSTONE, search_id, *position)
                    done.deleted += 1
                    seen[search_id] = position
                continue
            try:
                async with conn.transaction():  # a savepoint: one bad row is skipped alone
                    await conn.execute(store.UPSERT, *store.upsert_args(row, *position))
            except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                done.bad += 1
                log.warning(
                    "saved searches: the database refused a record",
                    id=search_id,
                    partition=record.partition,
                    offset=record.offset,
                    error=str(exc),
                )
                _bad("refused", on_bad)
                continue
            seen[search_id] = position
            done.deleted += row.deleted
            done.upserted += not row.deleted
            if search_id not in before:
                fresh[search_id] = row
            elif row.deleted:
                fresh.pop(search_id, None)
    limit = settings.alerts_backfill_max
    if backfill_enabled and limit > 0:
        aliases = synonyms.active()
        for search_id, row in fresh.items():
            if row.backfill_days > 0 and not row.deleted:
                done.backfilled += await backfill(conn, search_id, limit, aliases)
    return done


async def _positions(consumer: AIOKafkaConsumer) -> dict[TopicPartition, int]:
    return {tp: await consumer.position(tp) for tp in consumer.assignment()}


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> int:
    """Records between the consumer's positions and ``ends``."""
    now = await _positions(consumer)
    return sum(max(0, end - now[tp]) for tp, end in ends.items())


def _id(record: Record, row: SavedRow | None) -> str:
    if row is not None:
        return row.id
    return bytes(record.key).decode("utf-8", "replace")


def _bad(reason: str, on_bad: Callable[[str], None] | None) -> None:
    if on_bad is not None:
        on_bad(reason)


async def rebuild(
    settings: Settings, on_progress: Callable[[int, int], None] | None = None
) -> Applied:
    """Empty ``saved_searches`` and refill it from the beginning of the topic, in one
    transaction (the matcher sees the old table until the new one is complete; a running
    materialiser's writes wait, then still apply only when newer). No backfill: the
    searches are not new, and the alerts ledger is left as it is. ``on_progress(read,
    total)`` after each batch."""
    conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
    consumer: AIOKafkaConsumer | None = None
    total = Applied()
    try:
        await register_vector_bytes(conn)
        consumer, ends = await open_topic(settings, "alerts-rebuild", {})
        tps = list(ends)
        starts = await _positions(consumer)
        size = sum(max(0, ends[tp] - starts[tp]) for tp in tps)
        async with conn.transaction():
            await conn.execute("DELETE FROM saved_searches")
            while True:
                now = await _positions(consumer)
                read = sum(min(ends[tp], now[tp]) - starts[tp] for tp in tps)
                if on_progress is not None:
                    on_progress(read, size)
                if read >= size:
                    break
                batches = await consumer.getmany(*tps, timeout_ms=POLL_MS)
                records = [r for tp in tps for r in batches.get(tp, ())]
                done = await apply(conn, records, settings, False)
                for name in ("upserted", "deleted", "stale", "bad"):
                    setattr(total, name, getattr(total, name) + getattr(done, name))
    finally:
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        with contextlib.suppress(Exception):
            await conn.close()
    return total


async def materialise(settings: Settings, materialiser: Materialiser | None = None) -> None:
    """Run a materialiser (a new one unless given) for ever: the alerts worker's task."""
    await (materialiser or Materialiser(settings)).run()
