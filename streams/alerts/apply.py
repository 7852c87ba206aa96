"""One batch of saved-searches.v1 records into ``saved_searches``, then backfill.

Decode each record (a bad one is logged, counted by reason and skipped: a record can be
anything another client wrote); drop those older than what the table holds for their id
(the newer-position-wins rule, also enforced by the upsert itself); write the rest in one
transaction -- all in one pipelined ``executemany`` when the database accepts them all,
else one savepoint per record, so a record PostgreSQL refuses is skipped alone -- and
backfill the saved searches that were new (:mod:`streams.alerts.backfill`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeAlias

import asyncpg
import structlog
from aiokafka.structs import ConsumerRecord

from schemas.saved_searches import ID, BadRecord, SavedSearch, decode
from schemas.search import synonyms
from schemas.settings import Settings
from streams.alerts import store
from streams.alerts.backfill import backfill

log = structlog.get_logger("streams.alerts.saved")
Record: TypeAlias = "ConsumerRecord[Any, Any]"
OnBad = Callable[[str], None]
# What PostgreSQL answers to a record it cannot store (never to a lost connection).
_REFUSED = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
)


@dataclass
class Applied:
    """What one batch (or a run) did, in records."""

    upserted: int = 0
    deleted: int = 0
    stale: int = 0
    bad: int = 0
    backfilled: int = 0

    def add(self, other: Applied) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True, slots=True)
class _Write:
    """One record to write: an upsert (``row``) or a tombstone (``row`` None)."""

    id: str
    position: tuple[int, int]
    row: SavedSearch | None


async def apply(
    conn: asyncpg.Connection,
    records: Iterable[Record],
    settings: Settings,
    backfill_enabled: bool,
    on_bad: OnBad | None = None,
) -> Applied:
    """Write one batch of records (in log order per partition) and backfill new searches."""
    done = Applied()
    decoded = list(_decoded(records, settings.embedding_dim, done, on_bad))
    if not decoded:
        return done
    before = await store.known(conn, [w.id for w in decoded])
    seen = dict(before)
    writes: list[_Write] = []
    for w in decoded:
        if w.id in seen and seen[w.id] >= w.position:
            done.stale += 1
        elif w.row is not None or w.id in seen:  # a tombstone of an unknown id: nothing
            seen[w.id] = w.position
            writes.append(w)
    async with conn.transaction():
        written = await _write(conn, writes, done, on_bad)
    fresh: dict[str, SavedSearch | None] = {}
    for w in written:
        done.deleted += w.row is None or w.row.deleted
        done.upserted += w.row is not None and not w.row.deleted
        if w.id not in before or w.id in fresh:
            fresh[w.id] = w.row  # the id's last state in this batch
    limit = settings.alerts_backfill_max
    if backfill_enabled and limit > 0:
        aliases = synonyms.active()
        for search_id, row in fresh.items():
            if row is not None and row.backfill_days > 0 and not row.deleted:
                done.backfilled += await backfill(conn, search_id, limit, aliases)
    return done


def _decoded(
    records: Iterable[Record], dim: int, done: Applied, on_bad: OnBad | None
) -> Iterable[_Write]:
    for record in records:
        position = (record.partition, record.offset)
        key = bytes(record.key) if record.key is not None else None
        try:
            if record.value is None:  # a tombstone: the id's saved search is gone
                search_id = (key or b"").decode("utf-8", "replace")
                if not ID.match(search_id):
                    raise BadRecord("bad_id", f"a tombstone keyed {search_id[:80]!r}")
                yield _Write(search_id, position, None)
            else:
                row = decode(key, bytes(record.value), dim)
                yield _Write(row.id, position, row)
        except BadRecord as exc:
            _skip(done, on_bad, exc.reason, position, str(exc))


async def _write(
    conn: asyncpg.Connection, writes: list[_Write], done: Applied, on_bad: OnBad | None
) -> list[_Write]:
    """Apply ``writes`` (inside a transaction); return those the database accepted."""
    terms = await _terms(conn, [w.row for w in writes])
    args = [
        None if w.row is None or t is None else store.upsert_args(w.row, t, *w.position)
        for w, t in zip(writes, terms, strict=True)
    ]
    upserts = [a for a in args if a is not None]
    if writes and len(upserts) == len(writes):
        try:
            async with conn.transaction():
                await conn.executemany(store.UPSERT, upserts)
            return writes
        except _REFUSED:
            pass  # find the culprit: one savepoint each
    accepted: list[_Write] = []
    for w, a in zip(writes, args, strict=True):
        if w.row is not None and a is None:
            _skip(done, on_bad, "refused", w.position, f"{w.id}: its query was refused")
            continue
        try:
            async with conn.transaction():
                if a is None:
                    await conn.execute(store.TOMBSTONE, w.id, *w.position)
                else:
                    await conn.execute(store.UPSERT, *a)
        except _REFUSED as exc:
            _skip(done, on_bad, "refused", w.position, f"{w.id}: {exc}")
            continue
        accepted.append(w)
    return accepted


async def _terms(
    conn: asyncpg.Connection, rows: list[SavedSearch | None]
) -> list[store.Lexical | None]:
    """Each row's lexical terms (None for a tombstone, or a query PostgreSQL refuses)."""
    present = [row for row in rows if row is not None]
    try:
        async with conn.transaction():
            found = iter(await store.lexical(conn, present))
        return [None if row is None else next(found) for row in rows]
    except _REFUSED:
        pass
    out: list[store.Lexical | None] = []
    for row in rows:
        try:
            async with conn.transaction():
                out.append(None if row is None else (await store.lexical(conn, [row]))[0])
        except _REFUSED:
            out.append(None)
    return out


def _skip(
    done: Applied, on_bad: OnBad | None, reason: str, position: tuple[int, int], detail: str
) -> None:
    done.bad += 1
    log.warning(
        "saved searches: skipping a bad record",
        partition=position[0],
        offset=position[1],
        reason=reason,
        detail=detail,
    )
    if on_bad is not None:
        on_bad(reason)
