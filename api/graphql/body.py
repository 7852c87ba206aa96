"""The JSON of a GraphQL request (a POST body, or GET's ``variables``/``extensions``), read
with limits so hostile JSON is a clear 400, never a 500.

Python's ``json`` fails with errors Strawberry does not expect on input a client controls:
``RecursionError`` on deep nesting (20,000 ``[``), ``ValueError`` on a number of 4,300+
digits, ``UnicodeDecodeError`` on bytes that are not UTF-8; and it accepts ``"\\ud800"``, a
lone surrogate, which no later step can encode (cache keys, logs, PostgreSQL). Here each
is refused by :func:`decode` with :class:`BodyRefused`, whose message names the problem
and, where there is one, the place in the body (``variables.filter.city``).
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32
"""Nesting levels of arrays and objects in a request; a GraphQL request needs a handful."""
MAX_DIGITS = 40
"""Digits of a JSON integer; the largest GraphQL number here (``Long``) has 19."""

# A surrogate escape anywhere in the raw text: the fast path skips the walk without one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class BodyRefused(Exception):
    """The request's JSON cannot be used; ``message`` says why and where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _integer(digits: str) -> int:
    count = len(digits.lstrip("-"))
    if count > MAX_DIGITS:
        raise BodyRefused(
            f"the request has a number of {count} digits; at most {MAX_DIGITS} are accepted"
        )
    return int(digits)


def decode(data: str | bytes) -> Any:
    """The JSON value of ``data``; :class:`BodyRefused` when it is not usable JSON, nests
    deeper than :data:`MAX_DEPTH`, has a number longer than :data:`MAX_DIGITS` digits or a
    string with a lone surrogate."""
    try:
        value = json.loads(data, parse_int=_integer)
    except RecursionError:
        raise BodyRefused(_too_deep()) from None
    except UnicodeDecodeError:
        raise BodyRefused("the request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BodyRefused(
            f"the request body is not JSON: {exc.msg} at position {exc.pos}"
        ) from None
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    _check(value, check_text=_SURROGATE_ESCAPE.search(raw) is not None)
    return value


def _too_deep() -> str:
    return f"the request's JSON is nested more than {MAX_DEPTH} levels deep"


def _check(value: Any, *, check_text: bool) -> None:
    """Depth, and (when the raw text has surrogate escapes) lone surrogates, without
    recursion: the walk must not fail on what it is meant to refuse."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise BodyRefused(_too_deep())
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if check_text and isinstance(key, str):
                    _text(key, _join(path, "<a key>"))
                stack.append((child, depth + 1, _join(path, key)))
        elif check_text and isinstance(item, str):
            _text(item, path or "the body")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _text(value: str, where: str) -> None:
    found = _SURROGATE.search(value)
    if found:
        code = ord(found.group())
        raise BodyRefused(
            f"{_printable(where)} contains a lone surrogate (U+{code:04X}) at position"
            f" {found.start()}; text must be valid Unicode"
        )


def _printable(where: str, limit: int = 100) -> str:
    """The path as it can be shown: a key may itself hold the surrogate, or be long."""
    shown = _SURROGATE.sub("\N{REPLACEMENT CHARACTER}", where)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
