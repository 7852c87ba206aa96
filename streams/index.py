"""The approximate-nearest-neighbour index on postings.embedding: IVFFlat, built late.

Why IVFFlat (numbers in tests/bench/results/index.json, see tests/bench/bench_index.py):
a live HNSW index caps ingest at a few hundred rows/s, while IVFFlat inserts cost one
comparison against each list centre, so the sink keeps near-COPY speed. IVFFlat must be
trained on data, hence:

- no index below ``min_rows`` live vectors (an exact scan of that many is a few ms);
- then ``CREATE INDEX CONCURRENTLY`` with ``lists`` = rows / 1000 (sqrt(rows) above 1M,
  pgvector's guidance), so writes and searches go on during the build;
- rebuilt the same way (new index, then ``DROP INDEX CONCURRENTLY`` of the old one) when
  the table has grown or shrunk ``rebuild_growth`` times since the last build, so the
  lists stay balanced; dropped when the table falls below ``min_rows`` (truncated for a
  rebuild from the log), since lists trained on the old rows would only mislead;
- the chosen ``lists`` and the recommended ``probes`` go in table ``vector_index`` for
  the search side (``SET ivfflat.probes``; with filters also
  ``SET ivfflat.iterative_scan = relaxed_order`` so selective filters do not return
  short pages).

Every worker runs :meth:`VectorIndexManager.check` periodically; a Postgres advisory lock
makes exactly one of them act.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from schemas.db.locks import AdvisoryLock

log = structlog.get_logger("streams.index")

PREFIX = "postings_embedding_ivfflat"


@dataclass(frozen=True)
class IndexPolicy:
    min_rows: int = 20_000
    rows_per_list: int = 1000
    min_lists: int = 10
    rebuild_growth: float = 2.0
    opclass: str = "vector_cosine_ops"
    maintenance_work_mem: str = "512MB"

    def lists_for(self, rows: int) -> int:
        lists = rows // self.rows_per_list if rows <= 1_000_000 else int(math.sqrt(rows))
        return max(self.min_lists, lists)

    @staticmethod
    def probes_for(lists: int) -> int:
        """Probes for recall@10 >= ~0.95 on clustered data (bench_index.py): ~ sqrt(lists)."""
        return max(1, min(lists, math.ceil(math.sqrt(lists))))


@dataclass(frozen=True)
class IndexState:
    name: str
    lists: int
    probes: int
    rows_at_build: int


class VectorIndexManager:
    def __init__(self, dsn: str, policy: IndexPolicy | None = None) -> None:
        self.dsn = dsn
        self.policy = policy or IndexPolicy()

    async def check(self) -> str | None:
        """Create, rebuild or drop the index when due; returns what it did, or None."""
        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            if not await conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", AdvisoryLock.VECTOR_INDEX
            ):
                return None  # another worker is on it
            try:
                return await self._check(conn)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", AdvisoryLock.VECTOR_INDEX)
        finally:
            await conn.close()

    async def current(self, conn: asyncpg.Connection) -> IndexState | None:
        row = await conn.fetchrow(
            "SELECT v.name, v.lists, v.probes, v.rows_at_build FROM vector_index v"
            " JOIN pg_class c ON c.relname = v.name"
            " JOIN pg_index i ON i.indexrelid = c.oid AND i.indisvalid"
            " ORDER BY v.built_at DESC LIMIT 1"
        )
        return None if row is None else IndexState(**dict(row))

    async def _check(self, conn: asyncpg.Connection) -> str | None:
        await self._drop_leftovers(conn)
        rows = await _vector_rows(conn)
        state = await self.current(conn)
        growth = self.policy.rebuild_growth
        if state is None:
            if rows < self.policy.min_rows:
                return None
            reason = "create"
        elif rows < self.policy.min_rows:
            # Emptied (e.g. truncated for a rebuild from the log): lists trained on the old
            # rows would only mislead; exact scans serve until the table is big again.
            await self._drop(conn, state)
            return "drop"
        elif rows >= state.rows_at_build * growth or rows * growth <= state.rows_at_build:
            reason = "rebuild"
        else:
            return None
        await self._build(conn, rows, reason, replacing=state)
        return reason

    async def _drop(self, conn: asyncpg.Connection, state: IndexState) -> None:
        log.info("dropping vector index", index=state.name)
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {state.name}")
        await conn.execute("DELETE FROM vector_index WHERE name = $1", state.name)

    async def _build(
        self, conn: asyncpg.Connection, rows: int, reason: str, replacing: IndexState | None
    ) -> None:
        lists = self.policy.lists_for(rows)
        probes = self.policy.probes_for(lists)
        name = f"{PREFIX}_{lists}_{uuid.uuid4().hex[:8]}"
        log.info("building vector index", index=name, reason=reason, rows=rows, lists=lists)
        started = time.perf_counter()
        await conn.execute(f"SET maintenance_work_mem = '{self.policy.maintenance_work_mem}'")
        # CONCURRENTLY: inserts and searches continue during the build.
        await conn.execute(
            f"CREATE INDEX CONCURRENTLY {name} ON postings"
            f" USING ivfflat (embedding {self.policy.opclass}) WITH (lists = {lists})"
        )
        seconds = time.perf_counter() - started
        await conn.execute(
            "INSERT INTO vector_index"
            " (name, method, opclass, lists, probes, rows_at_build, build_seconds)"
            " VALUES ($1, 'ivfflat', $2, $3, $4, $5, $6)",
            name,
            self.policy.opclass,
            lists,
            probes,
            rows,
            seconds,
        )
        if replacing is not None:
            await self._drop(conn, replacing)
        log.info("vector index ready", index=name, seconds=round(seconds, 1), probes=probes)

    async def _drop_leftovers(self, conn: asyncpg.Connection) -> None:
        """Invalid indexes of an interrupted CONCURRENTLY build; rows for missing indexes."""
        invalid = await conn.fetch(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'postings'::regclass AND NOT i.indisvalid"
            " AND c.relname LIKE $1",
            PREFIX + "%",
        )
        for row in invalid:
            log.warning("dropping invalid vector index", index=row["relname"])
            await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {row['relname']}")
        await conn.execute(
            "DELETE FROM vector_index v WHERE NOT EXISTS"
            " (SELECT 1 FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid"
            "  WHERE c.relname = v.name AND i.indisvalid)"
        )


async def _vector_rows(conn: asyncpg.Connection) -> int:
    """Rows with an embedding; the planner's estimate once the table is large."""
    estimate = await conn.fetchval(
        "SELECT reltuples::bigint FROM pg_class WHERE oid = 'postings'::regclass"
    )
    if estimate is not None and estimate > 2_000_000:
        return int(estimate)
    return int(await conn.fetchval("SELECT count(*) FROM postings WHERE embedding IS NOT NULL"))
