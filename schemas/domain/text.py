"""String rules shared by every text field: trimming, length limits, forbidden characters.

Control characters are refused because they break logs, terminals and single-line UIs,
and NUL in particular cannot be stored in a PostgreSQL ``text`` column (it would turn into
a sink failure far from the producer). Unpaired surrogates cannot be encoded as UTF-8.
"""

from __future__ import annotations

import re
import unicodedata

from schemas.domain.errors import InvalidPosting, RejectReason

# Single-line fields: no C0/C1 controls at all (tab and newline included), no surrogates.
_BAD_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Multi-line fields (description): tab, LF and CR are allowed.
_BAD_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def line(value: str, field: str, max_len: int, *, required: bool) -> str:
    """A trimmed single-line string of at most ``max_len`` characters."""
    return _checked(value.strip(), field, max_len, required, _BAD_IN_LINE)


def text(value: str, field: str, max_len: int) -> str:
    """A trimmed, optional multi-line string of at most ``max_len`` characters."""
    return _checked(value.strip(), field, max_len, False, _BAD_IN_TEXT)


def skill(value: str, field: str, max_len: int) -> str:
    """A skill in its canonical form: NFKC, lower case, inner whitespace collapsed.

    Canonical skills make filters exact (``skills @> ARRAY['python']``) and let
    "Python", " python " and a fullwidth "PYTHON" count as one skill.
    """
    stripped = value.strip()
    bad = _BAD_IN_LINE.search(stripped)
    if bad:
        raise _bad_char(field, stripped, bad.start())
    canonical = " ".join(unicodedata.normalize("NFKC", stripped).lower().split())
    if not canonical:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD, field, f"{field} is empty (a skill has 1-{max_len} chars)"
        )
    return _checked(canonical, field, max_len, True, _BAD_IN_LINE)


def shown(value: object, limit: int = 60) -> str:
    """A value quoted for an error message, cut short so messages stay readable."""
    text_ = repr(value)
    return text_ if len(text_) <= limit else text_[: limit - 3] + "..."


def _checked(value: str, field: str, max_len: int, required: bool, bad: re.Pattern[str]) -> str:
    if not value:
        if required:
            raise InvalidPosting(RejectReason.MISSING_FIELD, field, f"{field} is missing")
        return value
    if len(value) > max_len:
        raise InvalidPosting(
            RejectReason.TOO_LONG,
            field,
            f"{field} is too long: {len(value)} characters (max {max_len})",
        )
    found = bad.search(value)
    if found:
        raise _bad_char(field, value, found.start())
    return value


def _bad_char(field: str, value: str, index: int) -> InvalidPosting:
    char = value[index]
    kind = "an unpaired surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return InvalidPosting(
        RejectReason.INVALID_FIELD,
        field,
        f"{field} contains {kind} (U+{ord(char):04X}) at position {index}",
    )
