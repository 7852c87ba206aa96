"""A query's lexical terms: its words, alias phrases joined, each word's alias group.

In schemas because a search (api/search/words.py, lexical.py) and a saved search's alert
matching (streams/alerts/saved.py) must mean the same by "the query's words": the words
are whitespace-separated (the first :data:`MAX_WORDS`), consecutive words that spell an
alias table entry are one unit (:func:`units`), and a unit matches as the OR of its alias
group's spellings (:func:`spelt`), each spelling parsed by PostgreSQL as
:data:`SPELLING_QUERY` says (``jobstream_search_text`` of migration 0004, the 'english'
configuration, a several-word spelling as a phrase).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from schemas.search.synonyms import SkillAliases

MAX_WORDS = 32  # words of a query that take part in the lexical match
MAX_PHRASE = 3  # words of the longest alias phrase looked for ("react testing library")
SEPARATOR = "\n"  # between the spellings of one word's group
_WORD = re.compile(r"\S+")

# The tsquery of one spelling ``s`` of a word's group: a spelling of several words (an
# alias table entry, "docs as code", or a phrase the query spelt) as a phrase, so its
# common words do not match apart; one word as plainto_tsquery parses it.
SPELLING_QUERY = (
    "CASE WHEN strpos(s, ' ') > 0 THEN phraseto_tsquery('english', jobstream_search_text(s))"
    " ELSE plainto_tsquery('english', jobstream_search_text(s)) END"
)


def query_words(text: str) -> list[str]:
    """The words of a query for the lexical match (whitespace-separated, the first
    ``MAX_WORDS``); PostgreSQL parses each with ``plainto_tsquery``, which accepts any
    text, so no query syntax can fail."""
    return _WORD.findall(text)[:MAX_WORDS]


def units(words: Sequence[str], aliases: SkillAliases) -> list[str]:
    """The query's words, with consecutive words that spell an alias table entry ("swift
    ui", "spring boot", "vanilla js") joined into one unit, longest first."""
    phrases = {v for v in aliases.vocabulary() if " " in v}
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in range(min(MAX_PHRASE, len(words) - i), 1, -1):
            phrase = " ".join(words[i : i + n])
            if phrase in phrases:
                out.append(phrase)
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out


def spelt(word: str, aliases: SkillAliases) -> str:
    """``word`` and its alias group's spellings, as one words-parameter element."""
    return SEPARATOR.join(sorted({word} | aliases.expand(word)))


def groups(text: str, aliases: SkillAliases) -> list[str]:
    """One element per unit of the query ``text``: its spellings, :data:`SEPARATOR`-joined
    (no typo correction: that needs the live postings, see api/search/words.py)."""
    return [spelt(unit, aliases) for unit in units(query_words(text), aliases)]
