"""The delivery worker: both senders (each can be turned off) and their intakes in one
process, /metrics on ``alerts_delivery_metrics_port``; SIGTERM stops it cleanly (what
was sent is marked first; anything else is simply due again at the next start)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import asyncpg
import structlog
import uvloop

from schemas import kafka
from schemas.db.migrate import migrate
from schemas.settings import Settings
from schemas.topics import create_missing, topic_spec
from streams.alerts.delivery import webhooks
from streams.alerts.delivery.intake import Intake
from streams.alerts.delivery.mail import EmailSender, queue_for
from streams.alerts.delivery.metrics import DeliveryMetrics
from streams.alerts.delivery.webhooks import WebhookSender

log = structlog.get_logger("streams.alerts.delivery")
CONNECT_TRIES = 30


async def _pool(settings: Settings) -> asyncpg.Pool:
    for attempt in range(CONNECT_TRIES):
        try:
            conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
            break
        except (OSError, asyncpg.CannotConnectNowError) as exc:
            if attempt == CONNECT_TRIES - 1:
                raise
            log.info("waiting for PostgreSQL", error=str(exc))
            await asyncio.sleep(1.0)
    try:
        await migrate(conn, embedding_dim=settings.embedding_dim)
    finally:
        await conn.close()
    pool: asyncpg.Pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=8)
    return pool


async def _topics(settings: Settings) -> None:
    admin = kafka.admin(settings, "alerts-delivery")
    await admin.start()
    try:
        names = (settings.topic_alerts, settings.topic_webhook_dead_letters)
        await create_missing(admin, [topic_spec(settings, n) for n in names])
    finally:
        await admin.close()


async def run(settings: Settings, metrics: DeliveryMetrics | None = None) -> None:
    """Run until cancelled."""
    metrics = metrics or DeliveryMetrics()
    await _topics(settings)
    pool = await _pool(settings)
    producer = kafka.producer(settings, "alerts-webhooks")
    await producer.start()
    jobs = []
    if settings.webhooks_enabled:
        queued = metrics.queued.labels("webhook")
        jobs += [
            Intake(
                settings,
                pool,
                group=settings.webhook_consumer_group,
                channel="webhooks",
                queue=webhooks.queue,
                on_queued=queued.inc,
            ).run(),
            WebhookSender(settings, pool, producer, metrics).run(),
        ]
    if settings.email_enabled:
        queued = metrics.queued.labels("email")
        jobs += [
            Intake(
                settings,
                pool,
                group=settings.email_consumer_group,
                channel="email",
                queue=queue_for(settings),
                on_queued=queued.inc,
            ).run(),
            EmailSender(settings, pool, metrics).run(),
        ]
    log.info(
        "alert delivery ready",
        webhooks=settings.webhooks_enabled,
        email=settings.email_enabled,
        topic=settings.topic_alerts,
    )
    try:
        await asyncio.gather(*jobs)
    finally:
        await producer.stop()
        await pool.close()


def main(settings: Settings) -> None:
    """The process: metrics server, then :func:`run` until SIGTERM/SIGINT."""
    metrics = DeliveryMetrics()
    port = metrics.serve(settings.alerts_delivery_metrics_port, settings.metrics_host)
    log.info("metrics", port=port)

    async def body() -> None:
        task = asyncio.create_task(run(settings, metrics))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        log.info("alert delivery stopped")

    uvloop.run(body())  # bench_webhooks: 0.25-0.30 ms CPU per alert, 0.44-0.57 with asyncio
