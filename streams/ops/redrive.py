"""Redrive dead letters: re-produce them to postings.v1 after the cause was fixed.

``redrive()`` is the one implementation behind ``jobstream replay --from-dlq``, the
scheduled maintenance job and the admin mutation. Per letter it re-sends the original
bytes with the producer's original headers (the DLQ diagnosis stripped), keyed by the
posting id -- a pack member had no key of its own -- so the record lands on the
partition its id hashes to. It adds ``x-redriven-from`` and ``x-redrive-count``; the
sink copies them into a new dead letter when the record fails again, which is how a
redrive counts its failures and how ``max_redrives`` stops a letter that keeps failing
from being redriven forever. What was redriven goes to the ledger
(:mod:`streams.ops.ledger`), so a second run does not redrive it again.

Then it waits (up to ``wait_s``) for the sink's consumer group to commit past every
re-produced record, and counts each as landed, failed again (a new dead letter names
it) or still pending.

An executed run holds the redrive advisory lock (:class:`schemas.db.locks.AdvisoryLock`)
from its ledger read to its last ledger write, whoever started it (CLI, admin mutation,
maintenance job): a second run at the same time is refused with
:class:`~streams.ops.errors.AlreadyRunning` (exit 4) instead of reading the same ledger
and re-producing the same letters. A dry run changes nothing and takes no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from schemas.db.locks import AdvisoryLock
from schemas.settings import Settings
from streams import dead_letters as dl
from streams.ops.dead_letters import (
    H_REDRIVE_COUNT,
    H_REDRIVEN_FROM,
    DeadLetter,
    dlq_bounds,
    iter_letters,
    with_original_value,
)
from streams.ops.errors import AlreadyRunning, OpsError
from streams.ops.kafka import admin_client, consumer, producer
from streams.ops.ledger import LedgerEntry, ensure_ledger, read_ledger, record
from streams.ops.offsets import committed_offsets

Progress = Callable[[str, int, int | None], None]
"""``progress(phase, done, total)``; phases: "scan", "redrive", "wait"."""

LEDGER_CHUNK = 500
MAX_LISTED = 200


@dataclass
class RedriveReport:
    """What a redrive did (or, in a dry run, would do)."""

    executed: bool
    run_id: str
    group: str
    scanned: int = 0
    selected: int = 0
    redriven: int = 0
    landed: int = 0
    failed_again: int = 0
    pending: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    by_error_class: Counter[str] = field(default_factory=Counter)
    failed_again_by_class: Counter[str] = field(default_factory=Counter)
    letters: list[dict[str, Any]] = field(default_factory=list)  # at most MAX_LISTED
    waited_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed again and nothing is still pending."""
        return self.failed_again == 0 and self.pending == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "executed": self.executed,
            "run_id": self.run_id,
            "group": self.group,
            "scanned": self.scanned,
            "selected": self.selected,
            "redriven": self.redriven,
            "landed": self.landed,
            "failed_again": self.failed_again,
            "pending": self.pending,
            "skipped": dict(self.skipped),
            "by_error_class": dict(self.by_error_class),
            "failed_again_by_class": dict(self.failed_again_by_class),
            "waited_s": round(self.waited_s, 2),
            "letters": self.letters,
        }


def _classes(error_class: str | Collection[str] | None) -> frozenset[str] | None:
    if error_class is None:
        return None
    if isinstance(error_class, str):
        return frozenset({error_class})
    return frozenset(error_class)


async def redrive(
    settings: Settings,
    *,
    limit: int | None = None,
    error_class: str | Collection[str] | None = None,
    execute: bool = False,
    wait_s: float = 60.0,
    max_redrives: int = 3,
    progress: Progress | None = None,
) -> RedriveReport:
    """Redrive the dead letters not redriven before, oldest first.

    ``limit`` caps how many; ``error_class`` keeps only letters of that class (or of any
    class in a collection); ``execute=False`` is a dry run that only lists them;
    ``wait_s`` bounds the wait for the sink (0: do not wait, everything is pending);
    a letter already redriven ``max_redrives`` times (it failed again each time) is
    skipped. Raises :class:`~streams.ops.errors.OpsError` on a broker problem and
    :class:`~streams.ops.errors.AlreadyRunning` when another executed run is under way.
    """
    if limit is not None and limit < 0:
        raise OpsError(f"limit must be >= 0 (got {limit})")
    async with redrive_lock(settings) if execute else contextlib.nullcontext():
        return await _run(settings, limit, error_class, execute, wait_s, max_redrives, progress)


@contextlib.asynccontextmanager
async def redrive_lock(settings: Settings) -> AsyncIterator[None]:
    """Hold the redrive advisory lock on a connection of its own, or raise AlreadyRunning."""
    from streams.rebuild.connect import connect_db

    conn = await connect_db(settings)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", AdvisoryLock.REDRIVE):
            raise AlreadyRunning("redrive of dead letters")
        yield
    finally:
        await conn.close()  # releases the lock


async def _run(
    settings: Settings,
    limit: int | None,
    error_class: str | Collection[str] | None,
    execute: bool,
    wait_s: float,
    max_redrives: int,
    progress: Progress | None,
) -> RedriveReport:
    tick = progress or (lambda _phase, _done, _total: None)
    classes = _classes(error_class)
    report = RedriveReport(execute, uuid.uuid4().hex[:12], settings.consumer_group)
    done = await read_ledger(settings)
    chosen: list[DeadLetter] = []
    async for letter in iter_letters(settings):
        report.scanned += 1
        tick("scan", report.scanned, None)
        reason = _skip_reason(letter, done, classes, max_redrives)
        if reason is None and limit is not None and len(chosen) >= limit:
            reason = "over_limit"
        if reason:
            report.skipped[reason] += 1
            continue
        chosen.append(letter)
        report.by_error_class[letter.error_class] += 1
    report.selected = len(chosen)
    report.letters = [_listed(letter) for letter in chosen[:MAX_LISTED]]
    if not execute or not chosen:
        return report
    sent, dlq_end = await _send(settings, chosen, report, tick)
    report.redriven = len(sent)
    await _await_outcome(settings, sent, dlq_end, report, wait_s, tick)
    return report


def _skip_reason(
    letter: DeadLetter,
    done: dict[str, Any],
    classes: frozenset[str] | None,
    max_redrives: int,
) -> str | None:
    if letter.coordinates in done:
        return "already_redriven"
    if classes is not None and letter.error_class not in classes:
        return "other_error_class"
    if letter.value is None and not letter.value_omitted:
        return "no_value"
    if letter.redrive_count >= max_redrives:
        return "max_redrives"
    return None


def _listed(letter: DeadLetter) -> dict[str, Any]:
    return {
        "letter": letter.coordinates,
        "posting_id": letter.posting_id,
        "error_class": letter.error_class,
        "origin": letter.origin,
        "redrive_count": letter.redrive_count,
    }


def _key(letter: DeadLetter) -> bytes | None:
    """The letter's key; for a pack member (a pack's key is not its members') or a letter
    without a key, its posting id -- the sink requires a single event's key to be its id."""
    if letter.key is not None and letter.header(dl.H_PACK_INDEX) is None:
        return letter.key
    pid = letter.posting_id
    return pid.encode() if pid else None


async def _send(
    settings: Settings,
    chosen: list[DeadLetter],
    report: RedriveReport,
    tick: Progress,
) -> tuple[dict[str, tuple[TopicPartition, int]], dict[TopicPartition, int]]:
    """Re-produce ``chosen``; returns letter -> (partition, offset) written, and the DLQ end
    offsets from before the first send (new dead letters appear after them)."""
    ledger = await ensure_ledger(settings)
    dlq = settings.topic_dead_letters
    sent: dict[str, tuple[TopicPartition, int]] = {}
    async with producer(settings) as prod, consumer(settings) as reader:
        _, dlq_end = await dlq_bounds(settings, reader)
        for start in range(0, len(chosen), LEDGER_CHUNK):
            # A letter whose value was omitted is re-read from its original record.
            chunk = []
            for item in chosen[start : start + LEDGER_CHUNK]:
                resolved = await with_original_value(reader, item)
                if resolved.value is None:  # omitted, and the original is gone too
                    report.skipped["value_unrecoverable"] += 1
                    continue
                chunk.append(resolved)
            futures = []
            for letter in chunk:
                headers = [
                    *letter.original_headers(),
                    (H_REDRIVEN_FROM, f"{dlq}:{letter.coordinates}".encode()),
                    (H_REDRIVE_COUNT, str(letter.redrive_count + 1).encode()),
                ]
                futures.append(
                    await prod.send(
                        settings.topic_postings, letter.value, key=_key(letter), headers=headers
                    )
                )
            try:
                metas = await asyncio.gather(*futures)
            except KafkaError as exc:
                raise OpsError(
                    f"re-producing dead letters to {settings.topic_postings} failed after "
                    f"{len(sent)} were redriven ({exc}); run again to redrive the rest"
                ) from None
            now = datetime.now(UTC).isoformat()
            entries = []
            for letter, meta in zip(chunk, metas, strict=True):
                tp = TopicPartition(meta.topic, meta.partition)
                sent[letter.coordinates] = (tp, meta.offset)
                entries.append(
                    LedgerEntry(
                        letter.coordinates,
                        f"{meta.topic}:{meta.partition}:{meta.offset}",
                        letter.error_class,
                        report.run_id,
                        now,
                    )
                )
            await record(prod, ledger, entries)
            tick("redrive", len(sent), len(chosen))
    return sent, dlq_end


async def _await_outcome(
    settings: Settings,
    sent: dict[str, tuple[TopicPartition, int]],
    dlq_end: dict[TopicPartition, int],
    report: RedriveReport,
    wait_s: float,
    tick: Progress,
) -> None:
    """Wait for the sink's group to commit past every re-produced record, then sort them
    into landed / failed again / pending."""
    started = time.monotonic()
    committed: dict[TopicPartition, int] = {}
    async with admin_client(settings) as admin:
        while True:
            committed = await committed_offsets(admin, settings.consumer_group)
            processed = sum(1 for tp, off in sent.values() if committed.get(tp, -1) > off)
            tick("wait", processed, len(sent))
            if processed == len(sent) or time.monotonic() - started >= wait_s:
                break
            await asyncio.sleep(0.25)
    report.waited_s = time.monotonic() - started
    processed_letters = {
        letter for letter, (tp, off) in sent.items() if committed.get(tp, -1) > off
    }
    prefix = f"{settings.topic_dead_letters}:"
    failed: set[str] = set()
    async for new in iter_letters(settings, start=dlq_end):
        source = new.redriven_from or ""
        if source.startswith(prefix) and source[len(prefix) :] in sent:
            letter = source[len(prefix) :]
            if letter not in failed:
                failed.add(letter)
                report.failed_again_by_class[new.error_class] += 1
    report.failed_again = len(failed)
    report.pending = len(set(sent) - processed_letters - failed)
    report.landed = len(processed_letters - failed)
    outcome = {
        c: ("failed_again" if c in failed else "landed" if c in processed_letters else "pending")
        for c in sent
    }
    for item in report.letters:
        item["outcome"] = outcome.get(item["letter"], "pending")
