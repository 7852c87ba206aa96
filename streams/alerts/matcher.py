"""The matcher: the postings one committed sink batch changed, against every saved search.

Three steps per batch of changed postings, each replay-safe:

1. :data:`FETCH` the live postings at the announced version or later (a later version is
   what is there now; an older one means the announcement was replayed after a newer
   write);
2. the in-memory :class:`~streams.alerts.candidates.CandidateIndex` proposes the (posting,
   saved search) pairs that may match -- a superset, computed off the event loop;
3. :data:`VERIFY` decides each pair with the exact predicate of
   :mod:`streams.alerts.sql` (the one definition backfill shares), evaluates in full the
   saved searches the index may not hold yet (``written_xid >= horizon``), and inserts
   the matches into the ``alerts`` ledger ``ON CONFLICT DO NOTHING`` -- so a replayed
   batch, or a later version that still matches, never alerts twice.

A deleted posting closes its open alerts (:data:`CLOSE`): ``closed``, unpublished again
and a new ``sequence``, so the publisher announces the close once and resuming readers
see it after what they saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from streams.alerts.candidates import CandidateIndex, Posting, as_float, as_vector
from streams.alerts.sql import SCORE, canonical_skills, match_condition

_CHANGED = """
changed AS (
    SELECT DISTINCT ON (c.id) c.id, c.version, c.committed_at
    FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS c(id, version, committed_at)
    ORDER BY c.id, c.version DESC
)"""

FETCH = f"""
WITH {_CHANGED}
SELECT p.id, p.embedding, p.embedding_model, tsvector_to_array(p.search_tsv) AS lexemes,
    p.country_code, p.city, p.remote_mode, p.english_level, p.employment_type,
    p.experience_min_years, p.experience_max_years, p.salary_max, p.salary_currency,
    extract(epoch FROM p.posted_at) AS posted,
    {canonical_skills("p.skills", "$4::text[]", "$5::text[]")} AS canonical
FROM changed AS c JOIN postings AS p ON p.id = c.id AND p.version >= c.version
WHERE NOT p.deleted
"""

WORK_MEM = "64MB"
_SKILLS = canonical_skills("p.skills", "$4::text[]", "$5::text[]")
_MATCH = match_condition("p.canonical")
_HIT = f"SELECT s.id AS sid, p.id AS pid, p.version, {SCORE}::real AS score, p.announced_at"


# Parameters: ids, versions, committed_at (parallel arrays), the alias table (aliases,
# canonicals), the candidate pairs (posting ids, saved search ids), the index's horizon
# (xid8 as text). Returns the new ledger rows' keys.
VERIFY = f"""
WITH {_CHANGED},
p AS MATERIALIZED (
    SELECT p.*, c.committed_at AS announced_at, {_SKILLS} AS canonical
    FROM changed AS c JOIN postings AS p ON p.id = c.id AND p.version >= c.version
    WHERE NOT p.deleted
),
pairs AS (SELECT * FROM unnest($6::text[], $7::text[]) AS c(pid, sid)),
hits AS (
    {_HIT} FROM pairs AS c JOIN p ON p.id = c.pid JOIN saved_searches AS s ON s.id = c.sid
    WHERE {_MATCH}
    UNION ALL
    {_HIT} FROM p JOIN saved_searches AS s ON s.written_xid >= $8::text::xid8
    WHERE {_MATCH}
)
INSERT INTO alerts (saved_search_id, posting_id, version, score, committed_at)
SELECT DISTINCT ON (sid, pid) sid, pid, version, score, announced_at FROM hits
ORDER BY sid, pid
ON CONFLICT (saved_search_id, posting_id) DO NOTHING
RETURNING saved_search_id, posting_id
"""

# The open alerts of postings that are deleted now (at the announced version or later).
CLOSE = """
UPDATE alerts AS a
SET closed = true, published = false, published_sequence = NULL,
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
    candidates: int = 0  # pairs the index proposed


def posting_of(row: asyncpg.Record) -> Posting:
    """A :data:`FETCH` row as the index reads it."""
    vector = row["embedding"]
    return Posting(
        id=row["id"],
        embedding=None if vector is None else as_vector(vector),
        model=row["embedding_model"],
        lexemes=frozenset(row["lexemes"] or ()),
        country=row["country_code"],
        city=row["city"],
        remote=row["remote_mode"],
        english=row["english_level"],
        employment=row["employment_type"],
        experience_min=as_float(row["experience_min_years"]),
        experience_max=as_float(row["experience_max_years"]),
        salary_max=as_float(row["salary_max"]),
        currency=row["salary_currency"],
        posted=as_float(row["posted"]),
        skills=frozenset(row["canonical"] or ()),
    )


@dataclass(frozen=True, slots=True)
class Proposal:
    """Step 2's outcome for one chunk: the candidate pairs and the horizon of the index
    that proposed them (what it may not hold is left to SQL)."""

    changes: Sequence[Change]
    pairs: list[tuple[str, str]]
    horizon: str


async def propose(
    conn: asyncpg.Connection,
    changes: Sequence[Change],
    aliases: tuple[list[str], list[str]],
    index: CandidateIndex,
) -> Proposal:
    """Steps 1 and 2: the live postings, and the index's candidates for them (computed
    in a thread: numpy releases the GIL, so a pipelined verify can run meanwhile).
    ``conn`` needs the vector codec (:func:`streams.sink.writer.register_vector_bytes`)."""
    changed = [
        [c.id for c in changes],
        [c.version for c in changes],
        [c.committed_at for c in changes],
    ]
    horizon = index.horizon
    live = [posting_of(r) for r in await conn.fetch(FETCH, *changed, *aliases)]
    return Proposal(changes, await asyncio.to_thread(index.candidates, live), horizon)


async def verify(
    conn: asyncpg.Connection, proposal: Proposal, aliases: tuple[list[str], list[str]]
) -> Matched:
    """Step 3 in one transaction: the matching candidates (and what the index may not
    hold) into the ledger, deleted postings' alerts closed. Idempotent: a replay adds
    and closes nothing more."""
    changes, pairs = proposal.changes, proposal.pairs
    ids = [c.id for c in changes]
    async with conn.transaction():
        await conn.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")  # the pairs sort in memory
        rows = await conn.fetch(
            VERIFY,
            ids,
            [c.version for c in changes],
            [c.committed_at for c in changes],
            aliases[0],
            aliases[1],
            [pid for pid, _ in pairs],
            [sid for _, sid in pairs],
            proposal.horizon,
        )
        gone = [c.id for c in changes if c.deleted]
        closed = 0
        if gone:
            status = await conn.execute(CLOSE, gone)
            closed = int(status.rsplit(" ", 1)[-1])
    return Matched(postings=len(set(ids)), alerts=len(rows), closed=closed, candidates=len(pairs))


async def match(
    conn: asyncpg.Connection,
    changes: Sequence[Change],
    aliases: tuple[list[str], list[str]],
    index: CandidateIndex,
) -> Matched:
    """:func:`propose` then :func:`verify`, on one connection."""
    return await verify(conn, await propose(conn, changes, aliases, index), aliases)
