"""What the worker's crontab calls: the maintenance job, never crashing the worker."""

from __future__ import annotations

import structlog

from schemas.settings import Settings
from streams.maintenance.job import run_maintenance
from streams.ops.errors import OpsError

log = structlog.get_logger("streams.maintenance")


async def scheduled_maintenance(settings: Settings) -> None:
    log.info(
        "maintenance started",
        trigger="schedule",
        cron=settings.maintenance_cron,
        timezone=settings.maintenance_timezone,
    )
    try:
        report = await run_maintenance(settings)
    except OpsError as exc:  # another run holds the lock, PostgreSQL unreachable
        log.warning("maintenance skipped", trigger="schedule", reason=exc.message)
    except Exception:
        log.exception("maintenance failed", trigger="schedule")
    else:
        log.info("maintenance finished", trigger="schedule", ok=report.ok, errors=report.errors)
