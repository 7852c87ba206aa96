"""The webhook sender: due rows of ``webhook_deliveries`` -> signed POSTs.

Claiming a row moves its ``next_attempt_at`` one lease ahead (timeout + margin) in the
same statement (``FOR UPDATE SKIP LOCKED``), so two senders never send the same row at
once and a crashed sender's rows come due again after the lease: at least once, and the
receiver deduplicates by ``X-JobStream-Alert-Id``. The saved search is read at send time:
a deleted search's rows are cancelled, and its URL is checked again (:mod:`.http`).

A 2xx delivers; anything else (a redirect too) is retried with exponential backoff and
jitter until ``webhook_retry_for_s`` after the row was queued (or redriven); the last
attempt is made at that deadline, then the alert's original bytes go to the webhook
dead-letter topic with headers naming the error, and the row is ``dead``. Outcomes are
written in batches, since a receiver answering in a millisecond makes the database the
bottleneck.

Fairness: at most ``webhook_concurrency`` POSTs in flight and ``webhook_per_host`` per
host; rows of a host that already has twice that many waiting are not claimed, so one
slow receiver cannot fill the queue in front of the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import structlog
from aiokafka import AIOKafkaProducer

from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings
from schemas.webhooks import signature, url_refusal
from streams import dead_letters as dl
from streams.alerts.delivery import payload
from streams.alerts.delivery.http import RefusedAddress, WebhookClient
from streams.alerts.delivery.intake import Incoming, saved_searches
from streams.alerts.delivery.metrics import DeliveryMetrics

log = structlog.get_logger("streams.alerts.delivery.webhooks")
LEASE_MARGIN_S = 30.0
H_ALERT_ID = "x-alert-id"
H_LAST_STATUS = "x-last-status"

CLAIM = """
WITH due AS (
    SELECT d.alert_id, d.closed, s.webhook_url, s.webhook_signing_secret,
           coalesce(s.deleted, true) AS gone
    FROM webhook_deliveries d LEFT JOIN saved_searches s ON s.id = d.saved_search_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
      AND NOT (d.host = ANY($2::text[]))
    ORDER BY d.next_attempt_at
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries w SET next_attempt_at = now() + make_interval(secs => $3)
FROM due WHERE w.alert_id = due.alert_id AND w.closed = due.closed
RETURNING w.alert_id, w.closed, w.saved_search_id, w.host, w.alert, w.source, w.attempts,
          w.window_start, due.webhook_url, due.webhook_signing_secret, due.gone
"""

APPLY = """
UPDATE webhook_deliveries d SET
    status = u.status,
    attempts = d.attempts + u.tried,
    next_attempt_at = coalesce(u.next_at, d.next_attempt_at),
    last_status = coalesce(u.last_status, d.last_status),
    last_error = u.last_error,
    delivered_at = CASE WHEN u.status = 'delivered' THEN now() ELSE d.delivered_at END
FROM unnest($1::text[], $2::bool[], $3::text[], $4::int[], $5::timestamptz[], $6::int[],
            $7::text[]) AS u(alert_id, closed, status, tried, next_at, last_status, last_error)
WHERE d.alert_id = u.alert_id AND d.closed = u.closed
"""


async def queue(conn: Any, items: Sequence[Incoming]) -> int:
    """Ledger rows for the alerts whose saved search has a webhook (the intake's step)."""
    searches = await saved_searches(conn, [i.alert.saved_search_id for i in items])
    rows = []
    for item in items:
        s = searches.get(item.alert.saved_search_id)
        if s is None or s["deleted"] or not s["webhook_url"]:
            continue
        host = (urlsplit(s["webhook_url"]).hostname or "").lower()
        rows.append((item.alert.id, item.alert.closed, item.alert.saved_search_id, host, item))
    if not rows:
        return 0
    added = await conn.fetch(
        "INSERT INTO webhook_deliveries (alert_id, closed, saved_search_id, host, alert, source) "
        "SELECT * FROM unnest($1::text[], $2::bool[], $3::text[], $4::text[], $5::bytea[], "
        "$6::text[]) ON CONFLICT DO NOTHING RETURNING 1",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4].value for r in rows],
        [r[4].source for r in rows],
    )
    return len(added)


@dataclass(frozen=True)
class Outcome:
    alert_id: str
    closed: bool
    status: str  # delivered | pending (retry) | cancelled
    tried: int
    next_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class Failure:
    reason: str  # a short class: http_500, timeout, connect, refused, ...
    message: str
    status: int | None = None


def backoff_s(settings: Settings, attempts: int) -> float:
    """Exponential (base * 2^(attempts-1), capped) with jitter in [50 %, 100 %]."""
    delay: float = min(
        settings.webhook_backoff_max_s, settings.webhook_backoff_base_s * 2 ** (attempts - 1)
    )
    return delay * (0.5 + random.random() / 2)


class WebhookSender:
    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        metrics: DeliveryMetrics,
    ) -> None:
        self.settings, self.pool, self.producer, self.metrics = settings, pool, producer, metrics
        self.client: WebhookClient | None = None
        self.slots = asyncio.Semaphore(settings.webhook_concurrency)
        self.host_slots: dict[str, asyncio.Semaphore] = {}
        self.waiting: Counter[str] = Counter()  # claimed, not finished, per host
        self.outcomes: list[Outcome] = []
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Forever: flush outcomes, claim due rows, start a task per row."""
        self.client = WebhookClient(self.settings)
        try:
            while True:
                try:
                    await self.step()
                except Exception as exc:  # a database or code failure: the loop lives on
                    log.warning("webhook sender step failed; retrying", error=repr(exc))
                    await asyncio.sleep(1.0)
                self.wake.clear()
                if not self.outcomes:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self.wake.wait(), self.settings.alerts_delivery_poll_s
                        )
        finally:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.flush()
            await self.client.close()

    async def step(self) -> int:
        await self.flush()
        room = 2 * self.settings.webhook_concurrency - len(self.tasks)
        if room <= 0:
            return 0
        crowded = [h for h, n in self.waiting.items() if n >= 2 * self.settings.webhook_per_host]
        lease = self.settings.webhook_timeout_s + LEASE_MARGIN_S
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(CLAIM, room, crowded, lease)
        for row in rows:
            self.waiting[row["host"]] += 1
            task = asyncio.create_task(self._attempt(row))
            self.tasks.add(task)
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook attempt crashed", error=repr(task.exception()))

    async def flush(self) -> None:
        if not self.outcomes:
            return
        batch, self.outcomes = self.outcomes, []
        try:
            async with self.pool.acquire() as conn:
                await conn.execute(
                    APPLY,
                    [o.alert_id for o in batch],
                    [o.closed for o in batch],
                    [o.status for o in batch],
                    [o.tried for o in batch],
                    [o.next_at for o in batch],
                    [o.last_status for o in batch],
                    [o.last_error for o in batch],
                )
        except BaseException:
            self.outcomes[:0] = batch  # written next time; a lost write only resends
            raise

    async def _attempt(self, row: asyncpg.Record) -> None:
        host = row["host"]
        try:
            if row["gone"] or not row["webhook_url"]:
                self.outcomes.append(Outcome(row["alert_id"], row["closed"], "cancelled", 0))
                return
            refusal = url_refusal(row["webhook_url"])
            if refusal is not None:
                await self._dead(row, Failure("webhook_url_refused", refusal), 0)
                return
            sem = self.host_slots.setdefault(
                host, asyncio.Semaphore(self.settings.webhook_per_host)
            )
            async with sem, self.slots:
                failure = await self._post(row)
            await self._settle(row, failure)
        finally:
            self.waiting[host] -= 1
            if self.waiting[host] <= 0:
                del self.waiting[host]
                self.host_slots.pop(host, None)

    async def _post(self, row: asyncpg.Record) -> Failure | None:
        """One POST; None when delivered."""
        assert self.client is not None
        alert = alerts_pb2.Alert.FromString(row["alert"])
        body = payload.body(alert, payload.public_url(self.settings))
        sig = signature(row["webhook_signing_secret"] or "", int(time.time()), body)
        try:
            resp = await self.client.post(
                row["webhook_url"], body, alert_id=alert.id, signature=sig
            )
        except TimeoutError:
            return Failure("webhook_timeout", f"no answer in {self.settings.webhook_timeout_s} s")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedAddress):
                return Failure("webhook_url_refused", str(exc.os_error))
            return Failure("webhook_connect", str(exc) or type(exc).__name__)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Failure("webhook_error", f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= resp.status < 300:
            started = payload.matched_at(alert)
            if started is not None:
                self.metrics.latency.labels("webhook").observe(max(0.0, time.time() - started))
            return None
        return Failure(
            f"webhook_http_{resp.status}", f"the receiver answered {resp.status}", resp.status
        )

    async def _settle(self, row: asyncpg.Record, failure: Failure | None) -> None:
        if failure is None:
            self.metrics.delivered.labels("webhook").inc()
            self.outcomes.append(
                Outcome(row["alert_id"], row["closed"], "delivered", 1, last_status=200)
            )
            return
        self.metrics.failed.labels("webhook", failure.reason).inc()
        attempts = row["attempts"] + 1
        now = datetime.now(UTC)
        deadline = row["window_start"] + timedelta(seconds=self.settings.webhook_retry_for_s)
        if now >= deadline or failure.reason == "webhook_url_refused":
            await self._dead(row, failure, 1)
            return
        next_at = min(deadline, now + timedelta(seconds=backoff_s(self.settings, attempts)))
        self.metrics.retried.labels("webhook").inc()
        self.outcomes.append(
            Outcome(
                row["alert_id"],
                row["closed"],
                "pending",
                1,
                next_at,
                failure.status,
                failure.message,
            )
        )

    async def _dead(self, row: asyncpg.Record, failure: Failure, tried: int) -> None:
        """The alert's original bytes to the webhook DLQ (acked), then the row is dead."""
        attempts = row["attempts"] + tried
        topic, partition, offset = [*row["source"].rsplit(":", 2), "", ""][:3]
        headers = [
            (dl.H_ERROR_CLASS, failure.reason.encode()),
            (dl.H_ERROR_MESSAGE, failure.message[: dl.MAX_MESSAGE_CHARS].encode()),
            (dl.H_TOPIC, topic.encode()),
            (dl.H_PARTITION, partition.encode()),
            (dl.H_OFFSET, offset.encode()),
            (dl.H_FIRST_FAILED_AT, row["window_start"].isoformat().encode()),
            (dl.H_ATTEMPTS, str(attempts).encode()),
            (dl.H_CONSUMER_GROUP, self.settings.webhook_consumer_group.encode()),
            (H_ALERT_ID, row["alert_id"].encode()),
            (H_LAST_STATUS, str(failure.status or "").encode()),
        ]
        meta = await self.producer.send_and_wait(
            self.settings.topic_webhook_dead_letters,
            row["alert"],
            key=row["saved_search_id"].encode(),
            headers=headers,
        )
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'dead', attempts = $3, last_error = $4, "
                "last_status = coalesce($5, last_status), dead_letter = $6 "
                "WHERE alert_id = $1 AND closed = $2",
                row["alert_id"],
                row["closed"],
                attempts,
                failure.message,
                failure.status,
                f"{meta.partition}:{meta.offset}",
            )
        self.metrics.dead.labels("webhook").inc()
        log.warning(
            "webhook dead-lettered",
            alert_id=row["alert_id"],
            reason=failure.reason,
            attempts=attempts,
            letter=f"{meta.partition}:{meta.offset}",
        )
