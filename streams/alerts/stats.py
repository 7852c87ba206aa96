"""What ``jobstream alerts stats`` reports: saved searches, alerts, delivery and lags.

Read from the tables and the topic, never from a running worker, so it answers with the
workers stopped too. The delivery ledgers of migration 0010 are read when they exist
(``to_regclass``): each number says what it is, and is absent when its table is.
"""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg

from schemas.settings import Settings
from streams.alerts import store
from streams.alerts.saved import open_topic

SAVED = """
SELECT count(*) FILTER (WHERE NOT deleted) AS live,
       count(*) FILTER (WHERE deleted) AS deleted,
       count(*) FILTER (WHERE NOT deleted AND mode = 'HYBRID') AS hybrid,
       count(*) FILTER (WHERE NOT deleted AND mode = 'SEMANTIC') AS semantic,
       count(*) FILTER (WHERE NOT deleted AND mode = 'KEYWORD') AS keyword,
       count(*) FILTER (WHERE NOT deleted AND query = '') AS filters_only,
       count(*) FILTER (WHERE NOT deleted AND webhook_url IS NOT NULL) AS with_webhook,
       count(*) FILTER (WHERE NOT deleted AND email IS NOT NULL) AS with_email,
       count(*) FILTER (WHERE NOT deleted AND backfill_days > 0) AS with_backfill
FROM saved_searches
"""

ALERTS = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE matched_at > now() - interval '1 hour') AS last_hour,
       count(*) FILTER (WHERE matched_at > now() - interval '24 hours') AS last_24h,
       count(*) FILTER (WHERE backfill) AS backfill,
       count(*) FILTER (WHERE closed) AS closed
FROM alerts
"""

# Alerts found per hour over the last 24 h, oldest first (hours without alerts left out).
PER_HOUR = """
SELECT date_trunc('hour', matched_at) AS hour, count(*) AS n FROM alerts
WHERE matched_at > now() - interval '24 hours' GROUP BY 1 ORDER BY 1
"""

# The oldest ledger row not on alerts.v1 yet (the partial index alerts_unpublished).
UNPUBLISHED = """
SELECT (SELECT count(*) FROM alerts WHERE NOT published) AS n,
       (SELECT extract(epoch FROM now() - matched_at) FROM alerts WHERE NOT published
        ORDER BY sequence LIMIT 1)::float8 AS oldest_s
"""

# Tables of 0010 (delivery ledgers) whose presence adds numbers, and how to count them:
# (name, SQL of a row of named counts). Read only when the table exists.
DELIVERY_TABLES: tuple[tuple[str, str], ...] = (
    (
        "webhook_deliveries",
        "SELECT count(*) FILTER (WHERE status = 'pending') AS webhook_pending,"
        " count(*) FILTER (WHERE status = 'pending' AND attempts > 0) AS webhook_failing,"
        " count(*) FILTER (WHERE status = 'dead') AS webhook_dead_lettered,"
        " count(*) FILTER (WHERE status = 'delivered' AND delivered_at > now() - interval"
        " '24 hours') AS webhook_delivered_24h,"
        " extract(epoch FROM now() - min(queued_at) FILTER (WHERE status = 'pending'))::float8"
        " AS webhook_oldest_pending_s FROM webhook_deliveries",
    ),
    (
        "email_deliveries",
        "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')) AS email_pending,"
        " count(*) FILTER (WHERE status IN ('failed', 'uncertain')) AS email_failed,"
        " count(*) FILTER (WHERE status = 'sent' AND sent_at > now() - interval '24 hours')"
        " AS email_sent_24h FROM email_deliveries",
    ),
)


async def collect(settings: Settings) -> dict[str, Any]:
    """Every figure, as plain JSON-ready values."""
    conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
    try:
        saved = dict(await conn.fetchrow(SAVED))
        alerts = dict(await conn.fetchrow(ALERTS))
        per_hour = [
            {"hour": r["hour"].isoformat(), "alerts": int(r["n"])}
            for r in await conn.fetch(PER_HOUR)
        ]
        unpublished = await conn.fetchrow(UNPUBLISHED)
        delivery: dict[str, Any] = {
            "unpublished": int(unpublished["n"]),
            "oldest_unpublished_s": unpublished["oldest_s"],
        }
        for table, query in DELIVERY_TABLES:
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
                with contextlib.suppress(asyncpg.PostgresError):  # another shape: left out
                    delivery.update(dict(await conn.fetchrow(query)))
        applied = await store.positions(conn)
    finally:
        await conn.close()
    return {
        "saved_searches": saved,
        "alerts": {**alerts, "per_hour": per_hour},
        "delivery": delivery,
        "materialiser": await _materialiser_lag(settings, applied),
    }


async def _materialiser_lag(settings: Settings, applied: dict[int, int]) -> dict[str, Any]:
    """Records on saved-searches.v1 past the newest one the table holds, per partition."""
    consumer, ends = await open_topic(settings, "alerts-stats", applied)
    try:
        starts = await consumer.beginning_offsets(list(ends))
        lag = {
            tp.partition: max(0, end - max(applied.get(tp.partition, 0), starts[tp]))
            for tp, end in ends.items()
        }
    finally:
        await consumer.stop()
    return {"topic": settings.topic_saved_searches, "lag": sum(lag.values()), "by_partition": lag}
