"""Writing saved searches into ``saved_searches``: the upsert, newest record wins.

A row remembers where in saved-searches.v1 it was read (partition, offset); a record is
applied only when its position is past the row's, so a replay, a rebuild racing the
materialiser, or two materialisers never put an older version over a newer one. The
table is also the materialiser's checkpoint (:func:`positions`).

The lexical terms are computed in PostgreSQL, one statement per batch (:data:`LEXICAL`),
from the query's alias groups exactly as search parses them (``SPELLING_QUERY``):
``lexical_query`` is the AND over the units of the OR of each unit's spellings;
``lexemes`` the lexemes common to all spellings of a unit (what every lexically matching
posting must contain, for the GIN prefilter).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas.saved_searches import SavedSearch
from schemas.search import synonyms
from schemas.search.lexical import SPELLING_QUERY, groups

# The lexical terms of many saved searches in one statement. $1: the row each unit
# belongs to, $2: the unit's place in its query, $3: the unit's spellings (a group).
LEXICAL = f"""
WITH spelled AS (
    SELECT u.r, u.i, s, {SPELLING_QUERY} AS t
    FROM unnest($1::int[], $2::int[], $3::text[]) AS u(r, i, g),
        unnest(string_to_array(u.g, E'\\n')) AS s
),
usable AS (SELECT r, i, s, t FROM spelled WHERE numnode(t) > 0),
unit AS (SELECT r, i, jobstream_tsquery_or(t) AS q, count(*) AS n FROM usable GROUP BY r, i),
common AS (
    SELECT c.r, c.l FROM (
        SELECT usable.r, usable.i, l, count(DISTINCT usable.s) AS k FROM usable,
            unnest(tsvector_to_array(to_tsvector('english', jobstream_search_text(usable.s)))) AS l
        GROUP BY 1, 2, 3
    ) AS c JOIN unit USING (r, i) WHERE c.k = unit.n
),
queries AS (SELECT r, jobstream_tsquery_and(q ORDER BY i) AS q FROM unit GROUP BY r),
lexemes AS (SELECT r, array_agg(DISTINCT l ORDER BY l) AS ls FROM common GROUP BY r)
SELECT r, q::text AS q, coalesce(ls, '{{}}') AS ls FROM queries LEFT JOIN lexemes USING (r)
"""

_COLUMNS = (
    "id, secret_sha256, query, filter, mode, min_score, embedding, embedding_model,"
    " lexemes, lexical_query,"
    " experience_min_years, experience_max_years, english_levels, remote_modes,"
    " employment_types, country_code, city, skills_all, skills_any, salary_min, currency,"
    " posted_after, webhook_url, webhook_signing_secret, email, email_schedule,"
    " unsubscribe_token, backfill_days, created_at, deleted, source_partition, source_offset"
)
_UPDATED = [c.strip() for c in _COLUMNS.split(",") if c.strip() != "id"]

UPSERT = f"""
INSERT INTO saved_searches ({_COLUMNS})
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::vector, $8, $9::text[], $32::tsquery,
    $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
    $27, $28, $29, $30, $31)
ON CONFLICT (id) DO UPDATE SET {", ".join(f"{c} = EXCLUDED.{c}" for c in _UPDATED)}
WHERE (saved_searches.source_partition, saved_searches.source_offset)
    < (EXCLUDED.source_partition, EXCLUDED.source_offset)
"""

# A tombstone (null value) of a known id: the saved search is gone.
TOMBSTONE = """
UPDATE saved_searches SET deleted = true, source_partition = $2, source_offset = $3
WHERE id = $1 AND (source_partition, source_offset) < ($2, $3)
"""

POSITIONS = "SELECT source_partition AS p, max(source_offset) AS o FROM saved_searches GROUP BY 1"
KNOWN = (
    "SELECT id, source_partition AS p, source_offset AS o FROM saved_searches WHERE id = ANY($1)"
)


@dataclass(frozen=True, slots=True)
class Lexical:
    """A query's lexical terms: ``lexemes`` (all required) and the exact ``query``
    (tsquery text; None: no lexical term)."""

    lexemes: list[str]
    query: str | None


NO_TERMS = Lexical([], None)


async def lexical(conn: asyncpg.Connection, rows: Sequence[SavedSearch]) -> list[Lexical]:
    """The lexical terms of each of ``rows``' queries, in one statement."""
    owners: list[int] = []
    places: list[int] = []
    spellings: list[str] = []
    aliases = synonyms.active()
    for r, row in enumerate(rows):
        for i, group in enumerate(groups(row.query, aliases)):
            owners.append(r)
            places.append(i)
            spellings.append(group)
    out = [NO_TERMS] * len(rows)
    if spellings:
        for found in await conn.fetch(LEXICAL, owners, places, spellings):
            out[found["r"]] = Lexical(list(found["ls"]), found["q"])
    return out


def upsert_args(row: SavedSearch, terms: Lexical, partition: int, offset: int) -> tuple[Any, ...]:
    """The parameters of :data:`UPSERT` for ``row`` read at (partition, offset)."""
    f = row.filter
    return (
        row.id,
        row.secret_sha256,
        row.query,
        json.dumps(f.to_dict(), sort_keys=True, ensure_ascii=False),
        row.mode,
        row.min_score,
        row.embedding,
        row.embedding_model,
        terms.lexemes,
        f.experience_min_years,
        f.experience_max_years,
        list(f.english_levels),
        list(f.remote_modes),
        list(f.employment_types),
        f.country_code,
        f.city,
        list(f.skills_all),
        list(f.skills_any),
        f.salary_min,
        f.currency,
        f.posted_after,
        row.webhook_url,
        row.webhook_signing_secret,
        row.email,
        row.email_schedule,
        row.unsubscribe_token,
        row.backfill_days,
        row.created_at,
        row.deleted,
        partition,
        offset,
        terms.query,
    )


async def positions(conn: asyncpg.Connection) -> dict[int, int]:
    """The next offset to read per partition: one past the newest record applied."""
    return {int(r["p"]): int(r["o"]) + 1 for r in await conn.fetch(POSITIONS)}


async def known(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Where each of ``ids`` that has a row was read from."""
    rows = await conn.fetch(KNOWN, list(ids))
    return {r["id"]: (int(r["p"]), int(r["o"])) for r in rows}
