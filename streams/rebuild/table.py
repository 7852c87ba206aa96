"""The SQL of a rebuild: the new table, its indexes after the load, and the swap.

The new table is ``postings`` minus its indexes (columns, defaults, generated columns,
CHECK constraints copied with ``LIKE``) plus the primary key the version-guarded upsert
needs. Secondary indexes are copied from ``postings`` after the load (whatever the migrations made
them), with a temporary suffix; the swap renames them to the live names.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import asyncpg

from streams.index import PREFIX, IndexPolicy

LIVE = "postings"
NEW = "postings_rebuild"
RETIRED = "postings_retired"
SUFFIX = "_rb"  # new indexes until the swap
OLD_SUFFIX = "_retired"  # the old table's indexes after the swap
_CREATE_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) ", re.IGNORECASE)


@dataclass(frozen=True)
class VectorIndex:
    name: str
    lists: int
    probes: int
    rows: int
    seconds: float


async def create_new(conn: asyncpg.Connection) -> None:
    """A fresh, index-free copy of the live table's shape (a leftover is dropped first)."""
    await conn.execute(f"DROP TABLE IF EXISTS {NEW}, {RETIRED}")
    await conn.execute(
        f"CREATE TABLE {NEW} (LIKE {LIVE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
        " INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)"
    )
    await conn.execute(f"ALTER TABLE {NEW} ADD CONSTRAINT {LIVE}_pkey{SUFFIX} PRIMARY KEY (id)")


async def drop_new(conn: asyncpg.Connection) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {NEW}")


async def secondary_indexes(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    """(name, definition) of the live table's indexes other than the key and vector ones."""
    rows = await conn.fetch(
        "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indrelid = $1::regclass AND NOT x.indisprimary AND i.relname NOT LIKE $2"
        " ORDER BY i.relname",
        LIVE,
        PREFIX + "%",
    )
    return [(r["name"], r["def"]) for r in rows]


async def build_secondary(conn: asyncpg.Connection) -> list[str]:
    """The live table's secondary indexes, rebuilt on the new table (names + SUFFIX)."""
    built = []
    for name, definition in await secondary_indexes(conn):
        match = _CREATE_INDEX.match(definition)
        if match is None:
            raise RuntimeError(f"cannot copy index {name}: {definition}")
        unique = match.group(1) or ""
        statement = f"CREATE {unique}INDEX {name}{SUFFIX} ON {NEW} " + definition[match.end() :]
        await conn.execute(statement)
        built.append(name)
    return built


async def build_vector(
    conn: asyncpg.Connection, policy: IndexPolicy, *, max_parallel: int = 2
) -> VectorIndex | None:
    """IVFFlat over the loaded rows, as the index manager would size it; None when the
    table is too small to train one (searches scan exactly, as on the live table)."""
    import time

    rows = int(await conn.fetchval(f"SELECT count(*) FROM {NEW} WHERE embedding IS NOT NULL"))
    if rows < policy.min_rows:
        return None
    lists = policy.lists_for(rows)
    probes = policy.probes_for(lists)
    name = f"{PREFIX}_{lists}_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    await conn.execute(f"SET maintenance_work_mem = '{policy.maintenance_work_mem}'")
    await conn.execute(f"SET max_parallel_maintenance_workers = {int(max_parallel)}")
    # Not CONCURRENTLY: nobody reads or writes this table yet, so the plain build is faster.
    await conn.execute(
        f"CREATE INDEX {name} ON {NEW} USING ivfflat (embedding {policy.opclass})"
        f" WITH (lists = {lists})"
    )
    return VectorIndex(name, lists, probes, rows, time.perf_counter() - started)


async def swap(
    conn: asyncpg.Connection,
    *,
    secondary: list[str],
    vector: VectorIndex | None,
    opclass: str,
) -> None:
    """Inside the caller's transaction (which holds ``postings`` exclusively): the new
    table becomes ``postings`` with the live index names, the old one ``postings_retired``;
    ``vector_index`` describes the new table's index only."""
    await conn.execute(f"LOCK TABLE {LIVE} IN ACCESS EXCLUSIVE MODE")
    for name in [f"{LIVE}_pkey", *secondary]:
        await conn.execute(f"ALTER INDEX IF EXISTS {name} RENAME TO {name}{OLD_SUFFIX}")
    await conn.execute(f"ALTER TABLE {LIVE} RENAME TO {RETIRED}")
    await conn.execute(f"ALTER TABLE {NEW} RENAME TO {LIVE}")
    for name in [f"{LIVE}_pkey", *secondary]:
        await conn.execute(f"ALTER INDEX {name}{SUFFIX} RENAME TO {name}")
    await conn.execute("DELETE FROM vector_index")
    if vector is not None:
        await conn.execute(
            "INSERT INTO vector_index"
            " (name, method, opclass, lists, probes, rows_at_build, build_seconds)"
            " VALUES ($1, 'ivfflat', $2, $3, $4, $5, $6)",
            vector.name,
            opclass,
            vector.lists,
            vector.probes,
            vector.rows,
            vector.seconds,
        )


async def drop_retired(conn: asyncpg.Connection) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {RETIRED}")
