"""Why a posting matched: its title and description with the query's terms marked, or the
description's sentence nearest to the query's meaning (issue #12).

**Terms.** PostgreSQL's ``ts_headline`` with the lexical search's own configuration
(``english``, so "engineers" marks for "engineer") over the texts the page shows: the
query's words, each through ``plainto_tsquery`` as :mod:`api.search.lexical` parses them,
ORed, so every query word a posting contains is marked even where the posting matched by
meaning. Marks come back between private-use sentinels (:data:`START`, :data:`STOP`,
fragments cut by :data:`CUT`) that the input cannot contain (private-use characters are
replaced first), and are parsed here into ranges: no markup ever travels, a client builds
its own from ``(start, length)`` over ``text``. "<" travels as a private-use character
too: the parser would take ``<script>`` for a tag and ts_headline would drop it, while a
fragment must be the posting's own text (shown escaped).

C++, C#, F# and .NET are indexed spelled out (``jobstream_search_text``); the texts sent to
``ts_headline`` carry the same spellings behind an occurrence marker, and the fragments
get the original spelling back, so "C++" is marked as typed.

**Offsets** are Python ``str`` indices: Unicode code points, not UTF-16 units (a
JavaScript client converts with ``Array.from(text)`` when a text has astral characters).

**Sentences.** A rule-based splitter (:func:`sentences`); the service embeds the first
:data:`SENTENCES_PER_POSTING` and picks the one nearest to the query vector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from schemas.search.marks import CUT, START, STOP, TITLE_OPTIONS, ranges_of

LT = "\ue003"  # "<" hidden from the parser, which drops what looks like an HTML tag
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_MARK_FIRST, _MARK_LAST = 0xE010, 0xF8FF  # one marker per spelled-out occurrence
_MARKED = re.compile(f"([\ue010-\uf8ff]) ({START}?)(cplusplus|csharp|fsharp|dotnet)")
_STRAY_MARK = re.compile("[\ue010-\uf8ff] ?")
_CUT_WORD = re.compile(f"((?:^|{CUT})\\s*{START}?)(cplusplus|csharp|fsharp|dotnet)\\b")

# As jobstream_search_text (migration 0004) rewrites them, case-insensitively.
SPELLED_OUT = (
    (re.compile(r"(?<!\w)c\+\+", re.IGNORECASE), "cplusplus", "C++"),
    (re.compile(r"(?<!\w)c#", re.IGNORECASE), "csharp", "C#"),
    (re.compile(r"(?<!\w)f#", re.IGNORECASE), "fsharp", "F#"),
    (re.compile(r"(?<!\w)\.net\b", re.IGNORECASE), "dotnet", ".NET"),
)
_SHOWN = {word: shown for _, word, shown in SPELLED_OUT}

MAX_FRAGMENTS = 2
MAX_WORDS = 30
MIN_WORDS = 12
DESCRIPTION_OPTIONS = (
    f"StartSel={START}, StopSel={STOP}, MaxFragments={MAX_FRAGMENTS},"
    f" MaxWords={MAX_WORDS}, MinWords={MIN_WORDS}, FragmentDelimiter={CUT}"
)

# $1: the query words (text[]; an element may be an alias group, its spellings separated
# by newlines, as api.search.words sends them), $2 titles, $3 descriptions (text[], the
# page's order). Every spelling is ORed. A query none of whose words has a lexeme gives a
# NULL tsquery, and ts_headline NULL.
HEADLINES = (
    "WITH hq AS (SELECT string_agg('(' || tq::text || ')', ' | ')::tsquery AS q"
    " FROM (SELECT plainto_tsquery('english', jobstream_search_text(s)) AS tq"
    " FROM unnest($1::text[]) AS w, unnest(string_to_array(w, E'\\n')) AS s) AS words"
    " WHERE numnode(tq) > 0)"
    f" SELECT ts_headline('english', d.title, hq.q, '{TITLE_OPTIONS}') AS title,"
    f" ts_headline('english', d.description, hq.q, '{DESCRIPTION_OPTIONS}') AS description"
    " FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS d(title, description, n)"
    " CROSS JOIN hq ORDER BY d.n"
)


class HighlightField(StrEnum):
    TITLE = "TITLE"
    DESCRIPTION = "DESCRIPTION"


class HighlightKind(StrEnum):
    TERMS = "TERMS"  # the ranges are the query's terms
    SENTENCE = "SENTENCE"  # the text is the sentence nearest to the query; one range, all of it


@dataclass(frozen=True, slots=True)
class Highlight:
    """A fragment of one field with ranges ``(start, length)`` in code points of ``text``."""

    field: HighlightField
    kind: HighlightKind
    text: str
    ranges: tuple[tuple[int, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field.value,
            "kind": self.kind.value,
            "text": self.text,
            "ranges": [list(r) for r in self.ranges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Highlight:
        return cls(
            field=HighlightField(data["field"]),
            kind=HighlightKind(data["kind"]),
            text=str(data["text"]),
            ranges=tuple((int(s), int(n)) for s, n in data["ranges"]),
        )


def encode(text: str) -> tuple[str, list[str]]:
    """``text`` as ``ts_headline`` should read it: private-use characters replaced, C++ and
    the like spelled out behind a marker; and the original spellings, by marker."""
    spellings: list[str] = []
    out = _PRIVATE.sub("\ufffd", text).replace("<", LT)
    for pattern, word, _ in SPELLED_OUT:

        def spell(match: re.Match[str], word: str = word) -> str:
            if _MARK_FIRST + len(spellings) > _MARK_LAST:
                return match.group(0)
            spellings.append(match.group(0))
            return f"{chr(_MARK_FIRST + len(spellings) - 1)} {word}"

        out = pattern.sub(spell, out)
    return out, spellings


def decode(headline: str, spellings: Sequence[str]) -> str:
    """A headline with the original spellings back (the sentinels stay)."""

    def original(match: re.Match[str]) -> str:
        index = ord(match.group(1)) - _MARK_FIRST
        shown = spellings[index] if index < len(spellings) else _SHOWN[match.group(3)]
        return match.group(2) + shown

    restored = _STRAY_MARK.sub("", _MARKED.sub(original, headline)).replace(LT, "<")
    # A fragment cut between a marker and its word starts with the word alone.
    return _CUT_WORD.sub(lambda m: m.group(1) + _SHOWN[m.group(2)], restored)


def term_highlights(
    title: str | None,
    description: str | None,
    title_spellings: Sequence[str],
    description_spellings: Sequence[str],
) -> tuple[Highlight, ...]:
    """The marked title and description fragments of one ``HEADLINES`` row; only those
    with at least one mark."""
    found: list[Highlight] = []
    if title:
        text, ranges = ranges_of(decode(title, title_spellings))
        if ranges:
            found.append(Highlight(HighlightField.TITLE, HighlightKind.TERMS, text, ranges))
    if description:
        for fragment in decode(description, description_spellings).split(CUT):
            text, ranges = ranges_of(fragment.strip())
            if ranges:
                found.append(
                    Highlight(HighlightField.DESCRIPTION, HighlightKind.TERMS, text, ranges)
                )
    return tuple(found)


SENTENCES_PER_POSTING = 8
MAX_SENTENCE_CHARS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+|\s*\n\s*")


def sentences(description: str, limit: int = SENTENCES_PER_POSTING) -> list[str]:
    """The first ``limit`` sentences: split after . ! ? (and their CJK forms) followed by
    space, and at line breaks; very short pieces dropped, very long ones cut."""
    found: list[str] = []
    for piece in _SENTENCE_END.split(description):
        piece = piece.strip()
        if len(piece) < 8:
            continue
        found.append(piece[:MAX_SENTENCE_CHARS])
        if len(found) == limit:
            break
    return found


def nearest_sentence(
    query: npt.NDArray[np.float32], candidates: Sequence[str], vectors: npt.NDArray[np.float32]
) -> Highlight | None:
    """The sentence whose (unit) vector is nearest to the (unit) query vector."""
    if not candidates or len(vectors) != len(candidates):
        return None
    best = candidates[int(np.argmax(vectors @ query))]
    return Highlight(HighlightField.DESCRIPTION, HighlightKind.SENTENCE, best, ((0, len(best)),))
