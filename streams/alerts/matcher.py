"""The matcher: the postings one committed sink batch changed, against every saved search.

One SQL statement per batch of changed postings (:func:`match_statement`): the live
postings at the announced version or later, the candidate saved searches of each, the
exact predicate of :mod:`streams.alerts.sql` over each candidate pair, and the matches
inserted into the ``alerts`` ledger ``ON CONFLICT DO NOTHING`` -- so a replayed batch, or
a later version that still matches, never alerts twice. Candidates come from two indexes:

- lexical: the saved searches whose ``anchor`` (one of their lexemes, btree) is in the
  posting's ``search_tsv`` (saved searches without lexemes -- filters only, or a unit
  whose spellings share none -- are candidates of every posting);
- semantic: a reverse nearest-neighbour search over the saved queries' vectors. Below
  ``alerts_index_min_rows`` vectors it is an exact scan (``cosine >= min_score``, the
  tests' exactness); above, the :mod:`.index` IVFFlat index gives each posting its
  ``alerts_semantic_candidates`` nearest saved queries whose filters it passes.

A deleted posting closes its open alerts (:data:`CLOSE`): ``closed``, unpublished again
and a new ``sequence``, so the publisher announces the close once and resuming readers
see it after what they saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from streams.alerts.sql import SCORE, canonical_skills, filter_condition, match_condition

_SKILLS = canonical_skills("p.skills", "$4::text[]", "$5::text[]")

_CHANGED = """
changed AS (
    SELECT DISTINCT ON (c.id) c.id, c.version, c.committed_at
    FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS c(id, version, committed_at)
    ORDER BY c.id, c.version DESC
)"""

# The live postings at the announced version or later (a later version is what is there
# now; an older one means the announcement was replayed after a newer write).
_POSTINGS = f"""
p AS MATERIALIZED (
    SELECT p.*, c.committed_at AS announced_at, {_SKILLS} AS canonical,
        tsvector_to_array(p.search_tsv) AS lexeme_array
    FROM changed AS c JOIN postings AS p ON p.id = c.id AND p.version >= c.version
    WHERE NOT p.deleted
)"""

_MATCH = match_condition("p.canonical")
_HIT = f"SELECT s.id AS sid, p.id AS pid, p.version, {SCORE}::real AS score, p.announced_at"

# Each branch yields matches (the exact predicate on its own candidates, no second
# lookup); a pair two branches both find is kept once.
#
# Lexical: a lexical match holds every one of the saved search's lexemes, so its anchor
# (one of them, chosen by a trigger to keep buckets small; migration 0009) is among the
# posting's: an equi-join on the index saved_searches_anchor finds each candidate once (a
# GIN ``lexemes <@ …`` would fetch every saved search sharing *any* lexeme), and the
# array test ``lexemes <@`` and the country (most saved searches name one) on the
# index's own copies (an index-only scan) discard most candidates before their wide
# rows are read. Saved searches without
# lexemes (filters only; or no lexeme common to a unit's spellings, "golang" = go |
# golang) have no anchor and are candidates of every posting.
_ANCHORED = """
anchored AS MATERIALIZED (
    SELECT p.id AS pid, a.id AS sid
    FROM p CROSS JOIN LATERAL unnest(p.lexeme_array) AS l(lexeme)
    JOIN saved_searches AS a ON a.anchor = l.lexeme AND NOT a.deleted
        AND a.lexemes <@ p.lexeme_array
        AND (a.country_code IS NULL OR a.country_code = p.country_code)
)"""

# (anchored is a CTE of its own: as a join, PostgreSQL 18 folds the self-join on the
# primary key into one scan that reads every candidate's row.)
_LEXICAL = f"""
{_HIT} FROM anchored AS c JOIN p ON p.id = c.pid JOIN saved_searches AS s ON s.id = c.sid
WHERE {_MATCH}
UNION ALL
{_HIT} FROM p JOIN saved_searches AS s ON s.anchor IS NULL
WHERE NOT s.deleted AND {_MATCH}"""

_SEMANTIC_EXACT = f"""
{_HIT} FROM p JOIN saved_searches AS s ON (s.embedding <=> p.embedding) <= 1 - s.min_score
WHERE NOT s.deleted AND s.mode <> 'KEYWORD' AND s.query <> '' AND {_MATCH}"""

# ORDER BY the distance operator alone, so the IVFFlat index serves it: the nearest saved
# queries in the ``probes`` lists nearest the posting whose filters the posting passes (no
# iterative scan: a posting that few saved searches accept would scan every list).
_SEMANTIC_INDEXED = f"""
{_HIT} FROM p CROSS JOIN LATERAL (
    SELECT * FROM saved_searches AS s
    WHERE NOT s.deleted AND s.mode <> 'KEYWORD' AND s.query <> '' AND s.embedding IS NOT NULL
        AND p.embedding IS NOT NULL AND {filter_condition("p.canonical")}
    ORDER BY s.embedding <=> p.embedding LIMIT $6
) AS s
WHERE {_MATCH}"""


def match_statement(*, indexed: bool) -> str:
    """The batch's statement: parameters ids, versions, committed_at (parallel arrays),
    the alias table (aliases, canonicals) and, when ``indexed``, the candidates per
    posting. Returns the new ledger rows' (saved_search_id, posting_id)."""
    semantic = _SEMANTIC_INDEXED if indexed else _SEMANTIC_EXACT
    return f"""
WITH {_CHANGED}, {_POSTINGS}, {_ANCHORED},
hits AS ({_LEXICAL}
UNION ALL {semantic})
INSERT INTO alerts (saved_search_id, posting_id, version, score, committed_at)
SELECT DISTINCT ON (sid, pid) sid, pid, version, score, announced_at FROM hits
ORDER BY sid, pid
ON CONFLICT (saved_search_id, posting_id) DO NOTHING
RETURNING saved_search_id, posting_id
"""


# The open alerts of postings that are deleted now (at the announced version or later).
CLOSE = """
UPDATE alerts AS a
SET closed = true, published = false,
    sequence = nextval(pg_get_serial_sequence('alerts', 'sequence'))
FROM postings AS p
WHERE p.id = ANY($1::text[]) AND p.deleted AND a.posting_id = p.id AND NOT a.closed
"""


@dataclass(frozen=True, slots=True)
class Change:
    """One posting an invalidation named: its id, new version, deletion, commit time."""

    id: str
    version: int
    deleted: bool
    committed_at: datetime


@dataclass(frozen=True, slots=True)
class Matched:
    """What one batch put in the ledger."""

    postings: int
    alerts: int
    closed: int


async def match(
    conn: asyncpg.Connection,
    changes: Sequence[Change],
    aliases: tuple[list[str], list[str]],
    *,
    indexed: bool = False,
    probes: int = 1,
    candidates: int = 500,
) -> Matched:
    """Match ``changes`` in one transaction: new alerts inserted, deleted postings'
    alerts closed. Idempotent: a replay adds and closes nothing more."""
    ids = [c.id for c in changes]
    args: list[object] = [
        ids,
        [c.version for c in changes],
        [c.committed_at for c in changes],
        aliases[0],
        aliases[1],
    ]
    if indexed:
        args.append(candidates)
    async with conn.transaction():
        if indexed:
            await conn.execute(f"SET LOCAL ivfflat.probes = {int(probes)}")
        rows = await conn.fetch(match_statement(indexed=indexed), *args)
        gone = [c.id for c in changes if c.deleted]
        closed = 0
        if gone:
            status = await conn.execute(CLOSE, gone)
            closed = int(status.rsplit(" ", 1)[-1])
    return Matched(postings=len(set(ids)), alerts=len(rows), closed=closed)
