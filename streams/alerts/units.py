"""A saved search's lexical query as units of alternatives, for the candidate index.

``saved_searches.lexical_query`` is the AND of the query's units, each the OR of its
spellings ("ml engineer": ``( 'machin' <-> 'learn' | 'ml' ) & 'engin'``). ``lexemes``
keeps only what every spelling of a unit shares, so for such a query the index's subset
test knows little ('engin'); this module reads the tsquery's text back into units --
each a tuple of alternatives, each the set of lexemes that spelling needs -- so that
"some spelling of every unit is all in the posting" can be tested in memory.

A necessary condition only (phrase distances are not checked; PostgreSQL's ``@@`` is
the judge), and anything this reader does not understand (negation, prefix or weight
markers, nested groups) makes that unit unknown: it then holds for every posting.
"""

from __future__ import annotations

import re

Unit = tuple[frozenset[str], ...]

_LEXEME = re.compile(r"'((?:[^']|'')*)'")
_UNKNOWN = re.compile(r"[!:()]")


def _split(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` outside quotes and parentheses."""
    parts: list[str] = []
    depth, quoted, start, i = 0, False, 0, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "'" and text.startswith("''", i):
                i += 2
                continue
            quoted = ch != "'"
        elif ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _alternative(text: str) -> frozenset[str] | None:
    if _UNKNOWN.search(_LEXEME.sub("", text)):
        return None
    found = frozenset(m.replace("''", "'") for m in _LEXEME.findall(text))
    return found or None


def units_of(query: str | None) -> tuple[Unit, ...] | None:
    """The units of a tsquery's text that have more than one spelling, every spelling
    understood; None when there is none (the index's subset test says it all)."""
    if not query:
        return None
    out: list[Unit] = []
    for unit in _split(query, " & "):
        unit = unit.strip()
        if unit.startswith("(") and unit.endswith(")") and len(_split(unit, " | ")) == 1:
            unit = unit[1:-1].strip()
        alternatives = [_alternative(a) for a in _split(unit, " | ")]
        if len(alternatives) < 2:
            continue
        known = [a for a in alternatives if a is not None]
        if len(known) == len(alternatives):
            out.append(tuple(known))
    return tuple(out) or None


def holds(units: tuple[Unit, ...], lexemes: frozenset[str]) -> bool:
    """Some spelling of every unit has all its lexemes in ``lexemes``."""
    return all(any(spelling <= lexemes for spelling in unit) for unit in units)
