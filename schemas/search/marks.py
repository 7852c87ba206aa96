"""Marked text as PostgreSQL's ``ts_headline`` returns it, parsed into ranges.

Search (api/search/highlight.py) and alert matching (streams/alerts/ledger.py) both ask
``ts_headline`` to mark terms between private-use sentinels that no input can contain, and
both turn its answer into the same structure: the plain text and ``(start, length)`` ranges
in code points. One parser, so a highlight means the same on a search page and in an
alert.
"""

from __future__ import annotations

START, STOP, CUT = "\ue000", "\ue001", "\ue002"

# ts_headline options marking every occurrence of a title's terms.
TITLE_OPTIONS = f"StartSel={START}, StopSel={STOP}, HighlightAll=true"


def ranges_of(marked: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    """The plain text of a fragment and the ranges its sentinels enclosed."""
    plain: list[str] = []
    ranges: list[tuple[int, int]] = []
    at = 0
    opened: int | None = None
    for char in marked:
        if char == START:
            opened = at
        elif char == STOP:
            if opened is not None and at > opened:
                ranges.append((opened, at - opened))
            opened = None
        else:
            plain.append(char)
            at += 1
    return "".join(plain), _merged(ranges)


def _merged(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Adjacent marks ("Node.js" may come back as one or several) as one range each."""
    out: list[tuple[int, int]] = []
    for start, length in ranges:
        if out and out[-1][0] + out[-1][1] == start:
            out[-1] = (out[-1][0], out[-1][1] + length)
        else:
            out.append((start, length))
    return tuple(out)
