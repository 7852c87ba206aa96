"""Skill aliases and typos at query time: filter conditions and "did you mean".

Filters hold canonical skills (:mod:`schemas.search.filters`); a stored posting may still say
"k8s" or "golang", as producers wrote it. Query-time expansion matches every spelling of a
skill's alias group, so the table can change (or a user file extend it) without rewriting
a single row, and the sink keeps storing what producers sent. Both forms are served by the
GIN index on ``postings.skills`` (``@>`` and ``&&``).

Suggestions come from ``skill_vocabulary`` (every skill the sink has written, trigram
indexed, migration 0005) plus the alias table, ranked by pg_trgm similarity; only a
suggestion that live postings carry is offered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from schemas.search.synonyms import SkillAliases

AddParam = Callable[[object, str], str]

# pg_trgm similarity from which a skill is offered for a typo (kubernets/kubernetes: 0.62,
# pyhton/python: 0.27 -- too low to guess; postgress/postgresql: 0.6).
SUGGEST_MIN_SIMILARITY = 0.4


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A filter skill that matches no posting, and the known skill it was probably meant
    to be."""

    term: str
    suggestion: str

    def to_dict(self) -> dict[str, str]:
        return {"term": self.term, "suggestion": self.suggestion}


def conditions(
    skills_all: Sequence[str], skills_any: Sequence[str], aliases: SkillAliases, add: AddParam
) -> list[str]:
    """WHERE conditions for canonical skill filters, every alias spelling included."""
    conds: list[str] = []
    plain = [s for s in skills_all if len(aliases.spellings(s)) == 1]
    if plain:
        conds.append(f"skills @> {add(plain, '::text[]')}")
    for name in skills_all:
        spellings = aliases.spellings(name)
        if len(spellings) > 1:
            conds.append(f"skills && {add(sorted(spellings), '::text[]')}")
    if skills_any:
        every = sorted({s for name in skills_any for s in aliases.spellings(name)})
        conds.append(f"skills && {add(every, '::text[]')}")
    return conds


# $1: spellings of one skill. Known: the sink once wrote one of them (a primary-key probe,
# ~0.1 ms). Carried: a live posting has one now; asked only of known skills, because for
# a skill nobody has the planner's sequential scan reads every posting (~100 ms at 100k).
KNOWN = "SELECT EXISTS (SELECT 1 FROM skill_vocabulary WHERE skill = ANY($1::text[]))"
CARRIED = "SELECT EXISTS (SELECT 1 FROM postings WHERE NOT deleted AND skills && $1::text[])"

# $1: a term; $2: the alias table's spellings; $3: the similarity floor. `%` (pg_trgm's
# own threshold, 0.3, below ours) lets the vocabulary's trigram index find candidates.
CANDIDATES = """
SELECT s AS skill FROM (
    SELECT skill FROM skill_vocabulary WHERE skill % $1::text
    UNION SELECT a FROM unnest($2::text[]) AS a WHERE a % $1::text
) AS c(s)
WHERE similarity(s, $1::text) >= $3::real AND s <> $1::text
ORDER BY similarity(s, $1::text) DESC, s
LIMIT 5
"""


async def suggest(
    conn: asyncpg.Connection, skills: Sequence[str], aliases: SkillAliases
) -> tuple[Suggestion, ...]:
    """For each canonical skill the sink never wrote in any spelling, the most similar
    known skill that live postings carry (as its canonical name)."""
    out: list[Suggestion] = []
    vocabulary = sorted(aliases.vocabulary())
    for term in dict.fromkeys(skills):
        if await conn.fetchval(KNOWN, sorted(aliases.spellings(term))):
            continue  # written once: a posting carries it, or did (no guess either way)
        for row in await conn.fetch(CANDIDATES, term, vocabulary, SUGGEST_MIN_SIMILARITY):
            meant = aliases.canonical(row["skill"])
            if meant != term and await _carried(conn, sorted(aliases.spellings(meant))):
                out.append(Suggestion(term, meant))
                break
    return tuple(out)


async def _carried(conn: asyncpg.Connection, spellings: list[str]) -> bool:
    return bool(await conn.fetchval(KNOWN, spellings)) and bool(
        await conn.fetchval(CARRIED, spellings)
    )
