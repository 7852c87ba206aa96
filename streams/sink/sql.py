"""The sink's SQL: a per-connection staging table and one version-guarded upsert.

The batch is COPYed (binary) into a temp staging table and merged with ONE
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE postings.version < EXCLUDED.version``.
The WHERE makes the highest version win whatever the arrival order and makes a replay a
no-op (invariant 4, docs/architecture.md); a delete is an upsert of a content-free
tombstone row, so an older upsert arriving after it is still rejected. RETURNING yields
exactly the rows that changed: the rest were stale.
"""

from __future__ import annotations

STAGING = "sink_staging"

# Column order of the staging records (after the leading batch position ``n``).
COLUMNS: tuple[str, ...] = (
    "id",
    "version",
    "deleted",
    "title",
    "company",
    "city",
    "country_code",
    "remote_mode",
    "employment_type",
    "experience_min_years",
    "experience_max_years",
    "english_level",
    "skills",
    "salary_min",
    "salary_max",
    "salary_currency",
    "description",
    "posted_at",
    "embedding",
    "embedding_model",
    "produced_at",
)
STAGING_COLUMNS: tuple[str, ...] = ("n", *COLUMNS)


def create_staging(dim: int) -> str:
    """Per-connection temp table; ON COMMIT DELETE ROWS empties it after every batch."""
    return f"""
CREATE TEMP TABLE IF NOT EXISTS {STAGING} (
    n                    integer NOT NULL,
    id                   text NOT NULL,
    version              bigint NOT NULL,
    deleted              boolean NOT NULL,
    title                text,
    company              text,
    city                 text,
    country_code         text,
    remote_mode          text,
    employment_type      text,
    experience_min_years smallint,
    experience_max_years smallint,
    english_level        text,
    skills               text[] NOT NULL,
    salary_min           bigint,
    salary_max           bigint,
    salary_currency      text,
    description          text,
    posted_at            timestamptz,
    embedding            vector({int(dim)}),
    embedding_model      text,
    produced_at          timestamptz
) ON COMMIT DELETE ROWS
"""


_cols = ", ".join(COLUMNS)
_updates = ",\n    ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "id")

# $1/$2: the half-open range of batch positions to merge (the whole batch, or one
# bisection step while isolating a record the database rejects). ORDER BY id: rows are
# locked in one global order, so two workers overlapping during a rebalance cannot
# deadlock on each other's batches.


def upsert(table: str = "postings") -> str:
    """The version-guarded merge into ``table`` (``jobstream rebuild`` targets its new table)."""
    return f"""
INSERT INTO {table} AS p ({_cols}, updated_at)
SELECT {_cols}, now() FROM {STAGING} WHERE n >= $1 AND n < $2 ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    {_updates},
    updated_at = EXCLUDED.updated_at
WHERE p.version < EXCLUDED.version
RETURNING p.id, p.version, p.deleted
"""


UPSERT = upsert()

OUTBOX_INSERT = "INSERT INTO invalidation_outbox (payload) VALUES ($1) RETURNING id"
OUTBOX_DELETE = "DELETE FROM invalidation_outbox WHERE id = ANY($1::bigint[])"
OUTBOX_PENDING = """
SELECT id, payload FROM invalidation_outbox
WHERE created_at < now() - make_interval(secs => $1)
ORDER BY id
LIMIT $2
"""
