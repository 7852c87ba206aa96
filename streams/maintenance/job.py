"""The maintenance job: what the nightly crontab, ``jobstream maintenance run`` and the
``runMaintenance`` mutation all run.

1. redrive dead letters whose error class is retryable (JOBSTREAM_RETRYABLE_ERROR_CLASSES:
   failures a fix can cure, e.g. ``db_*``; never bytes that cannot decode) -- through
   :func:`streams.ops.redrive.redrive`, the same code as ``jobstream replay --from-dlq``,
   so its ledger keeps a letter from being redriven twice;
2. ``VACUUM ANALYZE postings`` (tombstones and superseded versions leave dead tuples);
3. vector index upkeep (:class:`streams.index.VectorIndexManager`, create/rebuild/drop);
4. a report: postings, dead letters, redriven letters, consumer lag -- logged and returned.

A failing step is reported and the others still run. One run at a time (advisory lock).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from schemas.db.locks import AdvisoryLock
from schemas.settings import Settings
from streams.index import IndexPolicy, VectorIndexManager
from streams.ops.errors import AlreadyRunning
from streams.ops.kafka import admin_client, consumer, log_bounds, topic_partitions
from streams.ops.offsets import committed_offsets
from streams.ops.redrive import redrive
from streams.rebuild.connect import connect_db

log = structlog.get_logger("streams.maintenance")

REDRIVE_WAIT_S = 30.0


@dataclass
class MaintenanceReport:
    started_at: str = ""
    ok: bool = True
    errors: list[str] = field(default_factory=list)
    postings: int = 0
    live_postings: int = 0
    tombstones: int = 0
    dead_letters: int = 0
    retryable_classes: list[str] = field(default_factory=list)
    redriven: int = 0
    redrive_landed: int = 0
    redrive_failed_again: int = 0
    redrive_pending: int = 0
    vacuum_seconds: float = 0.0
    vector_index_action: str | None = None
    vector_index: str | None = None
    consumer_lag: int | None = None
    consumer_lag_by_partition: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


async def run_maintenance(settings: Settings) -> MaintenanceReport:
    """Run every step once; raises only when another run holds the lock or PostgreSQL
    is unreachable (then nothing can be done)."""
    report = MaintenanceReport(started_at=datetime.now(UTC).isoformat())
    started = time.perf_counter()
    conn = await connect_db(settings)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", AdvisoryLock.MAINTENANCE):
            raise AlreadyRunning("maintenance run")
        await _step(report, "redrive", _redrive(settings, report))
        await _step(report, "vacuum", _vacuum(conn, report))
        await _step(report, "vector index", _index(settings, conn, report))
        await _step(report, "counts", _counts(conn, report))
        await _step(report, "kafka", _kafka_counts(settings, report))
    finally:
        await conn.close()  # releases the lock
    report.seconds = time.perf_counter() - started
    report.ok = not report.errors
    log.info("maintenance report", **report.to_json())
    return report


async def _step(report: MaintenanceReport, name: str, work: Any) -> None:
    try:
        await work
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        report.errors.append(f"{name}: {message}")
        log.warning("maintenance step failed", step=name, error=message)


async def _redrive(settings: Settings, report: MaintenanceReport) -> None:
    # A dry run lists the letters not redriven yet by class; the retryable patterns
    # (wildcards allowed) pick the classes to redrive for real.
    listed = await redrive(settings, execute=False, wait_s=0)
    classes = sorted(c for c in listed.by_error_class if settings.is_retryable(c))
    report.retryable_classes = classes
    if not classes:
        return
    done = await redrive(settings, error_class=classes, execute=True, wait_s=REDRIVE_WAIT_S)
    report.redriven = done.redriven
    report.redrive_landed = done.landed
    report.redrive_failed_again = done.failed_again
    report.redrive_pending = done.pending


async def _vacuum(conn: Any, report: MaintenanceReport) -> None:
    t0 = time.perf_counter()
    await conn.execute("VACUUM (ANALYZE) postings")
    report.vacuum_seconds = time.perf_counter() - t0


async def _index(settings: Settings, conn: Any, report: MaintenanceReport) -> None:
    manager = VectorIndexManager(
        settings.postgres_dsn, IndexPolicy(min_rows=settings.vector_index_min_rows)
    )
    report.vector_index_action = await manager.check()
    state = await manager.current(conn)
    report.vector_index = None if state is None else state.name


async def _counts(conn: Any, report: MaintenanceReport) -> None:
    row = await conn.fetchrow(
        "SELECT count(*) AS rows, count(*) FILTER (WHERE deleted) AS tombstones FROM postings"
    )
    report.postings = int(row["rows"])
    report.tombstones = int(row["tombstones"])
    report.live_postings = report.postings - report.tombstones


async def _kafka_counts(settings: Settings, report: MaintenanceReport) -> None:
    """Dead letters in the DLQ (log end - start) and the sink group's lag."""
    async with consumer(settings) as client:
        dlq = await topic_partitions(client, settings.topic_dead_letters)
        if dlq:
            starts, ends = await log_bounds(client, dlq)
            report.dead_letters = sum(ends[tp] - starts[tp] for tp in dlq)
        postings = await topic_partitions(client, settings.topic_postings)
        _, ends = await log_bounds(client, postings)
    async with admin_client(settings) as admin:
        committed = await committed_offsets(admin, settings.consumer_group)
    lag = {str(tp.partition): max(0, ends[tp] - committed.get(tp, 0)) for tp in postings}
    report.consumer_lag_by_partition = lag
    report.consumer_lag = sum(lag.values())
