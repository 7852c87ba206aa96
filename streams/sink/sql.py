"""The sink's SQL: a per-connection staging table and one version-guarded upsert.

The batch is COPYed (binary) into a temp staging table and merged with ONE
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE postings.version < EXCLUDED.version``.
The WHERE makes the highest version win whatever the arrival order and makes a replay a
no-op (invariant 4, docs/architecture.md); a delete is an upsert of a content-free
tombstone row, so an older upsert arriving after it is still rejected. RETURNING yields
exactly the rows that changed: the rest were stale.
"""

from __future__ import annotations

from schemas.db.postings import ROW_COLUMNS, PostingRow

STAGING = "sink_staging"

# The staging records: the batch position ``n``, then a posting row (schemas/db/postings.py).
COLUMNS: tuple[str, ...] = PostingRow._fields
STAGING_COLUMNS: tuple[str, ...] = ("n", *COLUMNS)


def create_staging(dim: int) -> str:
    """Per-connection temp table; ON COMMIT DELETE ROWS empties it after every batch."""
    columns = ",\n    ".join(["n integer NOT NULL", *(c.definition(dim) for c in ROW_COLUMNS)])
    return f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} (\n    {columns}\n) ON COMMIT DELETE ROWS"


_cols = ", ".join(COLUMNS)
_updates = ",\n    ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "id")

# $1/$2: the half-open range of batch positions to merge (the whole batch, or one
# bisection step while isolating a record the database rejects). ORDER BY id: rows are
# locked in one global order, so two workers overlapping during a rebalance cannot
# deadlock on each other's batches.


def upsert(table: str = "postings") -> str:
    """The version-guarded merge into ``table`` (``jobstream rebuild`` targets its new table).

    The skills of the rows written join ``skill_vocabulary`` in the same statement (the
    API's "did you mean", migration 0005), in sorted order so two workers adding the same
    new skills cannot deadlock."""
    return f"""
WITH merged AS (
INSERT INTO {table} AS p ({_cols}, updated_at)
SELECT {_cols}, now() FROM {STAGING} WHERE n >= $1 AND n < $2 ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    {_updates},
    updated_at = EXCLUDED.updated_at
WHERE p.version < EXCLUDED.version
RETURNING p.id, p.version, p.deleted, p.skills
), known AS (
INSERT INTO skill_vocabulary (skill)
SELECT DISTINCT s FROM merged, unnest(merged.skills) AS s ORDER BY s
ON CONFLICT DO NOTHING
)
SELECT id, version, deleted FROM merged
"""


UPSERT = upsert()


def reset_version(table: str = "postings") -> str:
    """An operator's version reset: the one write that ignores the version guard."""
    return f"""
UPDATE {table} SET version = $2, updated_at = now() WHERE id = $1
RETURNING id, version, deleted
"""


OUTBOX_INSERT = "INSERT INTO invalidation_outbox (payload) VALUES ($1) RETURNING id"
OUTBOX_DELETE = "DELETE FROM invalidation_outbox WHERE id = ANY($1::bigint[])"
