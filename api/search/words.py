"""Query words with skill aliases and typos, before the lexical match (issue #12).

A query word is matched as the OR of its alias group's spellings ("k8s" finds postings
that say "kubernetes" or "kube", :func:`spelt`); the group travels to PostgreSQL as one
``text[]`` element, the spellings separated by a newline (query words hold no
whitespace, table spellings single spaces only), so every statement keeps one words
parameter. Consecutive words that spell a table entry are one unit (:func:`units`): "swift
ui" matches "swiftui" (judged set, e5: en_variants "swift ui" HYBRID nDCG@10 0.741 ->
see README).

A word that is no alias but stems like one ("kubernets" and "kubernetes" both stem to
"kubernet") takes that alias's group; when it is no inflection of it (neither is a prefix
of the other) that is a typo the stemmer forgave, reported as a did-you-mean too.

A word whose group matches no live posting is corrected to the nearest term of the
vocabulary -- every skill the sink wrote (``skill_vocabulary``) and the alias table --
by edit distance (1 edit for words of 4-5 characters, 2 from 6; shorter words are never
guessed), ties broken by trigram similarity, and only to a term live postings contain.
The correction is matched instead and reported as a did-you-mean. One statement answers
for every word; its answer is kept a few seconds per word list (a page, its count, its
facets and its suggestions ask the same).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from api.search.skills import Suggestion
from schemas.search.lexical import MAX_PHRASE, SEPARATOR, SPELLING_QUERY, spelt, units
from schemas.search.synonyms import SkillAliases

# units and spelt live in schemas.search.lexical: a saved search's lexemes use them too.
__all__ = ["MAX_PHRASE", "SEPARATOR", "Resolved", "WordResolver", "edits_allowed", "spelt", "units"]

MIN_GUESS_LEN = 4  # shorter words ("go", "ui", "k8s") are too ambiguous to correct
MAX_GUESS_LEN = 40

# Which words' groups match some live posting, each word's own tsquery, and for the words
# that match nothing the nearest vocabulary term live postings contain. $1: groups, $2:
# the words, $3: edits allowed per word (0: never guess), $4: the alias table's spellings.
RESOLVE = f"""
SELECT g.i::int AS i, g.found, g.own, fix.term AS fix FROM (
    SELECT i, word, edits, plainto_tsquery('english', jobstream_search_text(word))::text AS own,
        tq IS NULL OR jobstream_occurs(tq) AS found
    FROM (SELECT i, word, edits, (SELECT jobstream_tsquery_or(t) FROM (
            SELECT {SPELLING_QUERY} AS t
            FROM unnest(string_to_array(spelt, E'\\n')) AS s) AS spellings
            WHERE numnode(t) > 0) AS tq
        FROM unnest($1::text[], $2::text[], $3::int[]) WITH ORDINALITY AS w(spelt, word, edits, i)
    ) AS grouped OFFSET 0
) AS g
LEFT JOIN LATERAL (
    SELECT v AS term FROM (
        SELECT skill FROM skill_vocabulary UNION SELECT unnest($4::text[])
    ) AS vocabulary(v)
    WHERE NOT g.found AND g.edits > 0 AND strpos(v, ' ') = 0
      AND levenshtein_less_equal(v, g.word, g.edits) <= g.edits
      AND jobstream_occurs(plainto_tsquery('english', jobstream_search_text(v)))
    ORDER BY levenshtein_less_equal(v, g.word, g.edits), similarity(v, g.word) DESC, v
    LIMIT 1
) AS fix ON true
ORDER BY g.i
"""

# The tsquery text (stems) of each alias table spelling; $1: the spellings.
STEMS = """
SELECT s, plainto_tsquery('english', jobstream_search_text(s))::text AS tq
FROM unnest($1::text[]) AS s ORDER BY s
"""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The groups to match (one element per word, corrections applied) and the words
    that were corrected."""

    groups: list[str]
    suggestions: tuple[Suggestion, ...]


def edits_allowed(word: str) -> int:
    """How many edits a correction of ``word`` may be away (0: never guess)."""
    if not MIN_GUESS_LEN <= len(word) <= MAX_GUESS_LEN or not word.isalpha():
        return 0
    return 1 if len(word) <= 5 else 2


class WordResolver:
    """Resolves query words against the live postings, remembering answers ``ttl_s``."""

    def __init__(self, *, ttl_s: float = 5.0, max_entries: int = 4096) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._known: dict[tuple[str, ...], tuple[float, Resolved]] = {}
        self._stems: tuple[str, dict[str, str]] | None = None  # (version, tsquery -> spelling)

    async def _stemmed(self, conn: asyncpg.Connection, aliases: SkillAliases) -> dict[str, str]:
        """The alias table's spellings by their tsquery text, loaded once per table."""
        if self._stems is None or self._stems[0] != aliases.version:
            rows = await conn.fetch(STEMS, sorted(aliases.vocabulary()))
            stems: dict[str, str] = {}
            for row in rows:
                if row["tq"]:
                    stems.setdefault(row["tq"], row["s"])
            self._stems = (aliases.version, stems)
        return self._stems[1]

    async def resolve(
        self, conn: asyncpg.Connection, words: Sequence[str], aliases: SkillAliases
    ) -> Resolved:
        words = units(words, aliases)
        if not words:
            return Resolved([], ())
        key = (aliases.version, *words)
        now = time.monotonic()
        cached = self._known.get(key)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        groups = [spelt(w, aliases) for w in words]
        rows = await conn.fetch(
            RESOLVE,
            groups,
            list(words),
            [edits_allowed(w) for w in words],
            sorted(aliases.vocabulary()),
        )
        stems = await self._stemmed(conn, aliases)
        suggestions: list[Suggestion] = []
        for row in rows:
            index = int(row["i"]) - 1
            word, fix = words[index], row["fix"]
            if fix is not None:
                groups[index] = spelt(fix, aliases)
                suggestions.append(Suggestion(word, fix))
                continue
            like = stems.get(row["own"] or "")
            if like is None or SEPARATOR in groups[index]:
                continue  # no alias stems like it, or it is an alias itself
            groups[index] = SEPARATOR.join(sorted({word} | aliases.spellings(like)))
            if not (word.startswith(like) or like.startswith(word)):
                suggestions.append(Suggestion(word, like))
        resolved = Resolved(groups, tuple(dict.fromkeys(suggestions)))
        if len(self._known) >= self._max_entries:
            self._known.clear()
        self._known[key] = (now, resolved)
        return resolved
