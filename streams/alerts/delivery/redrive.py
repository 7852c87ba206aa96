"""Redrive the webhook dead-letter topic: each letter's delivery back to ``pending``.

The same machinery as postings.v1's redrive (:mod:`streams.ops.redrive`): letters read
with :func:`streams.ops.dead_letters.iter_letters`, a ledger of redriven letters of its
own (``<webhook dlq>.redriven``, :mod:`streams.ops.ledger`) so a letter is redriven once,
and the redrive advisory lock for an executed run. What differs is where a letter goes:
not back into a topic but to its ledger row, with its attempts reset and a fresh retry
window; the running webhook sender sends it at once. A row that is no longer dead (it
was redriven by an older letter, or delivered) is left alone; a row that is missing
(the database was rebuilt) is recreated from the letter's bytes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings
from streams.ops.dead_letters import DeadLetter, iter_letters
from streams.ops.kafka import producer
from streams.ops.ledger import LedgerEntry, ensure_ledger, read_ledger, record
from streams.ops.redrive import redrive_lock

MAX_LISTED = 200

RESET = """
UPDATE webhook_deliveries SET status = 'pending', attempts = 0, window_start = now(),
       next_attempt_at = now(), last_error = NULL, dead_letter = NULL
WHERE alert_id = $1 AND closed = $2 AND status = 'dead'
RETURNING 1
"""


@dataclass
class WebhookRedriveReport:
    executed: bool
    run_id: str
    topic: str
    scanned: int = 0
    selected: int = 0
    redriven: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.redriven == self.selected

    def to_json(self) -> dict[str, Any]:
        return {
            "executed": self.executed,
            "run_id": self.run_id,
            "topic": self.topic,
            "scanned": self.scanned,
            "selected": self.selected,
            "redriven": self.redriven,
            "skipped": dict(self.skipped),
            "outcomes": dict(self.outcomes),
            "letters": self.letters,
        }


def _alert(letter: DeadLetter) -> alerts_pb2.Alert | None:
    try:
        alert = alerts_pb2.Alert.FromString(letter.value or b"")
    except DecodeError:
        return None
    return alert if alert.id and alert.saved_search_id else None


def describe(letter: DeadLetter) -> dict[str, Any]:
    """What ``dlq list/show`` print for a webhook letter instead of a PostingEvent's view:
    the alert's posting, and the alert decoded."""
    alert = _alert(letter)
    if alert is None:
        return {"posting_id": None, "payload": {"kind": "bytes", "note": "not an Alert"}}
    return {
        "posting_id": alert.posting_id,
        "payload": {
            "kind": "Alert",
            "alert": MessageToDict(alert, preserving_proto_field_name=True),
        },
    }


async def redrive_webhooks(
    settings: Settings,
    *,
    limit: int | None = None,
    error_class: str | None = None,
    execute: bool = False,
    progress: Callable[[int], None] | None = None,
) -> WebhookRedriveReport:
    """Redrive the webhook dead letters not redriven before, oldest first (a dry run
    unless ``execute``). Raises OpsError / AlreadyRunning as :func:`streams.ops.redrive.redrive`."""
    topic = settings.topic_webhook_dead_letters
    report = WebhookRedriveReport(execute, uuid.uuid4().hex[:12], topic)
    if not execute:
        await _select(settings, report, limit, error_class, progress)
        return report
    async with redrive_lock(settings):
        chosen = await _select(settings, report, limit, error_class, progress)
        if chosen:
            await _reset(settings, report, chosen)
    return report


async def _select(
    settings: Settings,
    report: WebhookRedriveReport,
    limit: int | None,
    error_class: str | None,
    progress: Callable[[int], None] | None,
) -> list[tuple[DeadLetter, alerts_pb2.Alert]]:
    done = await read_ledger(settings, report.topic)
    chosen: list[tuple[DeadLetter, alerts_pb2.Alert]] = []
    async for letter in iter_letters(settings, topic=report.topic):
        report.scanned += 1
        if progress is not None:
            progress(report.scanned)
        alert = _alert(letter)
        reason = (
            "already_redriven"
            if letter.coordinates in done
            else "other_error_class"
            if error_class is not None and letter.error_class != error_class
            else "not_an_alert"
            if alert is None
            else "over_limit"
            if limit is not None and len(chosen) >= limit
            else None
        )
        if reason is not None or alert is None:
            report.skipped[reason or "not_an_alert"] += 1
            continue
        chosen.append((letter, alert))
        if len(report.letters) < MAX_LISTED:
            report.letters.append(
                {
                    "letter": letter.coordinates,
                    "alert_id": alert.id,
                    "closed": alert.closed,
                    "error_class": letter.error_class,
                    "error_message": letter.error_message,
                }
            )
    report.selected = len(chosen)
    return chosen


async def _reset(
    settings: Settings,
    report: WebhookRedriveReport,
    chosen: list[tuple[DeadLetter, alerts_pb2.Alert]],
) -> None:
    from streams.rebuild.connect import connect_db

    ledger = await ensure_ledger(settings, report.topic)
    outcome: dict[str, str] = {}
    conn = await connect_db(settings)
    try:
        for letter, alert in chosen:
            async with conn.transaction():
                outcome[letter.coordinates] = await _reset_one(conn, letter, alert)
    finally:
        await conn.close()
    now = datetime.now(UTC).isoformat()
    entries = [
        LedgerEntry(
            letter.coordinates,
            f"webhook_deliveries:{alert.id}:{outcome[letter.coordinates]}",
            letter.error_class,
            report.run_id,
            now,
        )
        for letter, alert in chosen
    ]
    async with producer(settings) as prod:
        await record(prod, ledger, entries)
    report.redriven = len(entries)
    report.outcomes.update(outcome.values())
    for item in report.letters:
        item["outcome"] = outcome.get(item["letter"], "pending")


async def _reset_one(conn: Any, letter: DeadLetter, alert: alerts_pb2.Alert) -> str:
    """What became of this letter's delivery: pending, not_dead, or saved_search_gone."""
    if await conn.fetchval(RESET, alert.id, alert.closed):
        return "pending"
    if await conn.fetchval(
        "SELECT 1 FROM webhook_deliveries WHERE alert_id = $1 AND closed = $2",
        alert.id,
        alert.closed,
    ):
        return "not_dead"
    url = await conn.fetchval(
        "SELECT webhook_url FROM saved_searches WHERE id = $1 AND NOT deleted",
        alert.saved_search_id,
    )
    if not url:
        return "saved_search_gone"
    await conn.execute(
        "INSERT INTO webhook_deliveries (alert_id, closed, saved_search_id, host, alert, source) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        alert.id,
        alert.closed,
        alert.saved_search_id,
        (urlsplit(url).hostname or "").lower(),
        letter.value,
        letter.origin,
    )
    return "pending"
