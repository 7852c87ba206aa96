"""The IVFFlat index on saved-query vectors: what makes semantic matching a reverse
nearest-neighbour search instead of a scan of every saved search per posting.

Built like the postings' index (:mod:`streams.index`, same reasons): none below
``alerts_index_min_rows`` vectors (an exact scan is cheap and exact, which the tests rely
on), then ``CREATE INDEX CONCURRENTLY`` with lists = rows / 1000, rebuilt when the table
doubles or halves, dropped when it falls below the threshold. The lists are in the
index's name (``saved_searches_embedding_ivfflat_<lists>_<tag>``), so the state needs
no table of its own; the probes are sqrt(lists). One worker at a time acts (advisory lock).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from schemas.db.locks import AdvisoryLock
from streams.index import IndexPolicy

log = structlog.get_logger("streams.alerts.index")

PREFIX = "saved_searches_embedding_ivfflat"
_VALID = (
    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE i.indrelid = 'saved_searches'::regclass AND c.relname LIKE $1 || '%'"
    " AND i.indisvalid ORDER BY c.oid DESC"
)
_INVALID = _VALID.replace("AND i.indisvalid", "AND NOT i.indisvalid")
_ROWS = "SELECT count(*) FROM saved_searches WHERE NOT deleted AND embedding IS NOT NULL"


@dataclass(frozen=True, slots=True)
class SavedIndex:
    """The index semantic matching may use: its name, lists and probes."""

    name: str
    lists: int
    probes: int


async def current(conn: asyncpg.Connection) -> SavedIndex | None:
    """The newest valid index, or None (match exactly)."""
    name = await conn.fetchval(_VALID, PREFIX)
    if name is None:
        return None
    lists = int(name[len(PREFIX) + 1 :].split("_")[0])
    return SavedIndex(name, lists, IndexPolicy.probes_for(lists))


async def check(conn: asyncpg.Connection, min_rows: int) -> str | None:
    """Create, rebuild or drop the index when due; what was done, or None."""
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", AdvisoryLock.ALERTS_INDEX):
        return None
    try:
        for row in await conn.fetch(_INVALID, PREFIX):  # an interrupted concurrent build
            await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {row['relname']}")
        policy = IndexPolicy(min_rows=min_rows)
        rows = int(await conn.fetchval(_ROWS))
        state = await current(conn)
        if state is None and rows < min_rows:
            return None
        if state is not None and rows < min_rows:
            await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {state.name}")
            return "drop"
        lists = policy.lists_for(rows)
        if state is not None and state.lists * 2 > lists and lists * 2 > state.lists:
            return None
        name = f"{PREFIX}_{lists}_{uuid.uuid4().hex[:8]}"
        log.info("building saved-search vector index", index=name, rows=rows, lists=lists)
        await conn.execute(f"SET maintenance_work_mem = '{policy.maintenance_work_mem}'")
        await conn.execute(
            f"CREATE INDEX CONCURRENTLY {name} ON saved_searches"
            f" USING ivfflat (embedding vector_cosine_ops) WITH (lists = {lists})"
            " WHERE NOT deleted"
        )
        if state is not None:
            await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {state.name}")
        return "create" if state is None else "rebuild"
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", AdvisoryLock.ALERTS_INDEX)
