"""The email sender: due rows of ``email_deliveries`` -> one email per saved search.

IMMEDIATE rows are due when queued, DAILY rows at the next ``email_digest_hour_utc``;
either way a saved search's due rows (up to ``email_max_alerts``) go out in one email:
a small batch right away, or the day's digest. At most once: the rows are claimed
(``sending``, a digest id) in a committed transaction before the SMTP conversation and
marked ``sent`` after it; a row a crash leaves ``sending`` is given up as ``uncertain``
once its lease is over, never sent again. An SMTP failure puts the rows back to
``pending`` with exponential backoff until ``email_retry_for_s``, then ``failed`` (a
5xx refusal of the recipient at once). Closed alerts send no email.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
import asyncpg
import structlog

from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings
from streams.alerts.delivery.compose import PostingInfo, Recipient, compose
from streams.alerts.delivery.intake import Incoming, saved_searches
from streams.alerts.delivery.metrics import DeliveryMetrics
from streams.alerts.delivery.payload import matched_at, public_url

log = structlog.get_logger("streams.alerts.delivery.mail")
SEARCHES_PER_ROUND = 100
PARALLEL_SMTP = 4

CLAIM = """
UPDATE email_deliveries SET status = 'sending', digest_id = $3, claimed_at = now(),
       attempts = attempts + 1
WHERE alert_id IN (
    SELECT alert_id FROM email_deliveries
    WHERE saved_search_id = $1 AND status = 'pending' AND next_attempt_at <= $2
    ORDER BY queued_at, alert_id LIMIT $4 FOR UPDATE SKIP LOCKED)
RETURNING alert_id, schedule, alert, attempts, window_start
"""


def next_digest(now: datetime, hour: int) -> datetime:
    """The first ``hour``:00 UTC strictly after ``now``."""
    at = now.astimezone(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


def queue_for(settings: Settings) -> Any:
    """The intake's step for email, with the digest hour of these settings."""

    async def queue(conn: Any, items: Sequence[Incoming]) -> int:
        searches = await saved_searches(conn, [i.alert.saved_search_id for i in items])
        now = datetime.now(UTC)
        digest_at = next_digest(now, settings.email_digest_hour_utc)
        rows = []
        for item in items:
            s = searches.get(item.alert.saved_search_id)
            if item.alert.closed or s is None or s["deleted"] or not s["email"]:
                continue
            schedule = s["email_schedule"] or "IMMEDIATE"
            due = digest_at if schedule == "DAILY" else now
            rows.append((item.alert.id, item.alert.saved_search_id, schedule, item.value, due))
        if not rows:
            return 0
        added = await conn.fetch(
            "INSERT INTO email_deliveries (alert_id, saved_search_id, schedule, alert, "
            "next_attempt_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
            "$4::bytea[], $5::timestamptz[]) ON CONFLICT DO NOTHING RETURNING 1",
            *(list(col) for col in zip(*rows, strict=True)),
        )
        return len(added)

    return queue


class EmailSender:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, metrics: DeliveryMetrics) -> None:
        self.settings, self.pool, self.metrics = settings, pool, metrics
        self.smtp = asyncio.Semaphore(PARALLEL_SMTP)

    async def run(self) -> None:
        while True:
            try:
                sent = await self.send_due()
            except Exception as exc:  # a database or code failure: the loop lives on
                log.warning("email sender round failed; retrying", error=repr(exc))
                await asyncio.sleep(1.0)
                sent = 0
            if not sent:
                await asyncio.sleep(self.settings.alerts_delivery_poll_s)

    async def send_due(self, now: datetime | None = None) -> int:
        """Send every saved search's due alerts (as of ``now``); return emails sent."""
        now = now or datetime.now(UTC)
        lease = timedelta(seconds=2 * self.settings.smtp_timeout_s + 60)
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE email_deliveries SET status = 'uncertain' "
                "WHERE status = 'sending' AND claimed_at < now() - $1::interval",
                lease,
            )
            ids = await conn.fetch(
                "SELECT DISTINCT saved_search_id FROM email_deliveries "
                "WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT $2",
                now,
                SEARCHES_PER_ROUND,
            )
        results = await asyncio.gather(*(self._send_one(r["saved_search_id"], now) for r in ids))
        return sum(results)

    async def _send_one(self, saved_search_id: str, now: datetime) -> int:
        async with self.smtp:
            digest_id = uuid.uuid4().hex
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(
                    CLAIM, saved_search_id, now, digest_id, self.settings.email_max_alerts
                )
                if not rows:
                    return 0
                s = await conn.fetchrow(
                    "SELECT email, query, unsubscribe_token, deleted FROM saved_searches "
                    "WHERE id = $1",
                    saved_search_id,
                )
                if s is None or s["deleted"] or not s["email"]:
                    await self._mark(conn, digest_id, "cancelled")
                    return 0
                alerts = [alerts_pb2.Alert.FromString(r["alert"]) for r in rows]
                postings = await _postings(conn, [a.posting_id for a in alerts])
            try:
                msg = compose(
                    sender=self.settings.smtp_from,
                    to=Recipient(
                        saved_search_id, s["email"], s["query"] or "", s["unsubscribe_token"]
                    ),
                    alerts=alerts,
                    postings=postings,
                    digest=any(r["schedule"] == "DAILY" for r in rows),
                    public_url=public_url(self.settings),
                    message_id=f"<{digest_id}@jobstream.alerts>",
                )
            except (ValueError, TypeError) as exc:  # e.g. an address the email package refuses
                error: tuple[str, bool] | None = (f"cannot compose: {exc}", True)
            else:
                error = await self._smtp_send(msg)
            async with self.pool.acquire() as conn:
                if error is None:
                    await self._mark(conn, digest_id, "sent")
                    self.metrics.delivered.labels("email").inc(len(rows))
                    for alert in alerts:
                        started = matched_at(alert)
                        if started is not None:
                            self.metrics.latency.labels("email").observe(
                                max(0.0, datetime.now(UTC).timestamp() - started)
                            )
                    return 1
                await self._failed(conn, digest_id, rows, error, now)
            return 0

    async def _smtp_send(self, msg: Any) -> tuple[str, bool] | None:
        """None when the server accepted it; else (why, permanent)."""
        s = self.settings
        try:
            await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            return f"recipient refused: {exc}", all(500 <= c < 600 for c in codes)
        except aiosmtplib.SMTPResponseException as exc:
            return f"SMTP {exc.code}: {exc.message}", False
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}", False
        return None

    async def _mark(self, conn: Any, digest_id: str, status: str) -> None:
        await conn.execute(
            "UPDATE email_deliveries SET status = $2, "
            "sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END WHERE digest_id = $1",
            digest_id,
            status,
        )

    async def _failed(
        self, conn: Any, digest_id: str, rows: Sequence[Any], error: tuple[str, bool], now: datetime
    ) -> None:
        why, permanent = error
        self.metrics.failed.labels("email", "smtp").inc()
        attempts = max(r["attempts"] for r in rows)
        deadline = min(r["window_start"] for r in rows) + timedelta(
            seconds=self.settings.email_retry_for_s
        )
        if permanent or datetime.now(UTC) >= deadline:
            await conn.execute(
                "UPDATE email_deliveries SET status = 'failed', last_error = $2 "
                "WHERE digest_id = $1",
                digest_id,
                why[:1000],
            )
            self.metrics.dead.labels("email").inc(len(rows))
            log.warning("alert email given up", digest_id=digest_id, error=why)
            return
        base = self.settings.email_backoff_base_s * 2 ** (attempts - 1)
        delay = base * (0.5 + random.random() / 2)
        next_at = min(deadline, max(now, datetime.now(UTC)) + timedelta(seconds=delay))
        await conn.execute(
            "UPDATE email_deliveries SET status = 'pending', digest_id = NULL, claimed_at = NULL, "
            "next_attempt_at = $2, last_error = $3 WHERE digest_id = $1",
            digest_id,
            next_at,
            why[:1000],
        )
        self.metrics.retried.labels("email").inc()
        log.info("alert email failed; retrying", digest_id=digest_id, error=why, retry_at=next_at)


async def _postings(conn: Any, ids: Sequence[str]) -> dict[str, PostingInfo]:
    rows = await conn.fetch(
        "SELECT id, title, company, city, country_code FROM postings WHERE id = ANY($1::text[])",
        list(set(ids)),
    )
    return {
        r["id"]: PostingInfo(
            r["title"] or r["id"],
            r["company"] or "",
            ", ".join(p for p in (r["city"], r["country_code"]) if p),
        )
        for r in rows
    }
