"""The pure rules behind "bad input is a clear error, never a crash": the request-body
reader, the Long scalar, cursor decoding, the filter's time and the query text check.
The same cases on the real stack: tests/integration/test_bad_input.py."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import FloatValueNode, IntValueNode, StringValueNode

from api.graphql import body
from api.graphql.types import LONG_SCALAR
from api.search import PostingFilter
from api.search.cursor import Keyset, decode_cursor, encode_cursor, filter_fingerprint
from api.search.errors import InvalidCursor, InvalidFilter
from api.service import BadInput, SearchService
from api.web import latest
from api.web.params import BadParam
from schemas.settings import Settings

FP = filter_fingerprint(PostingFilter().cache_key())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# --- the request body ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("[" * 20_000 + "]" * 20_000, "nested more than 32 levels"),
        ("[" * 33 + "]" * 33, "nested more than 32 levels"),
        ('{"v": ' + "9" * 5000 + "}", "5000 digits"),
        ('{"v": -' + "9" * 41 + "}", "41 digits"),
        ('{"a": {"b": ["x", "\\ud800"]}}', "a.b[1] contains a lone surrogate (U+D800)"),
        ('{"\\udc00": 1}', "contains a lone surrogate (U+DC00)"),
        (b'{"query": "\xff"}', "not UTF-8"),
        ('{"query": ', "not JSON"),
    ],
)
def test_hostile_json_is_refused_naming_the_problem(data: str | bytes, words: str) -> None:
    with pytest.raises(body.BodyRefused) as caught:
        body.decode(data)
    assert words in caught.value.message


@pytest.mark.parametrize(
    "data",
    [
        '{"query": "{ a }", "variables": {"first": 9223372036854775807}}',
        '{"q": "\\ud83d\\ude00 emoji as an escaped pair"}',
        "[" * 32 + "]" * 32,
        '{"f": 1e400}',
    ],
)
def test_ordinary_json_passes(data: str) -> None:
    assert body.decode(data) == json.loads(data)


# --- Long ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "node",
    [
        FloatValueNode(value="1.5"),
        FloatValueNode(value="1e3"),
        IntValueNode(value="9" * 5000),
        IntValueNode(value="9223372036854775808"),
        StringValueNode(value="²"),
    ],
)
def test_long_refuses_literals_that_are_no_int64_with_a_short_message(node: Any) -> None:
    with pytest.raises(ValueError, match="Long cannot represent") as caught:
        LONG_SCALAR.parse_literal(node)
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize("value", [1.5, "1e3", "9" * 5000, 2**63, True, None, "²"])
def test_long_refuses_variables_that_are_no_int64(value: object) -> None:
    with pytest.raises(ValueError, match="Long cannot represent"):
        LONG_SCALAR.parse_value(value)


def test_long_accepts_the_int64_range() -> None:
    assert LONG_SCALAR.parse_literal(IntValueNode(value="-9223372036854775808")) == -(2**63)
    assert LONG_SCALAR.parse_value("9223372036854775807") == 2**63 - 1
    assert LONG_SCALAR.parse_value(5.0) == 5


# --- cursors ---------------------------------------------------------------------------


def _search_cursor(**changes: Any) -> str:
    good = json.loads(base64.urlsafe_b64decode(encode_cursor(Keyset(0.5, "py-1"), FP) + "=="))
    return _b64(json.dumps({**good, **changes}).encode())


@pytest.mark.parametrize(
    "changes",
    [{"c": "é" * 16}, {"f": "\ud800"}, {"i": "\udc00"}, {"c": "0" * 17}, {"f": FP.upper()}],
)
def test_a_forged_search_cursor_is_invalid(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(_search_cursor(**changes), FP)


def test_a_genuine_search_cursor_decodes() -> None:
    assert decode_cursor(_search_cursor(), FP) == Keyset(0.5, "py-1")


def _latest(*fields: object) -> str:
    return latest.PREFIX + _b64(json.dumps(list(fields)).encode())


@pytest.mark.parametrize(
    "cursor",
    [
        _latest("0001-01-01T00:00:00+14:00", "py-1", FP),
        _latest("9999-12-31T23:59:59-14:00", "py-1", FP),
        _latest("2026-01-01T00:00:00", "py-1", FP),
        _latest("2026-01-01T00:00:00+00:00", "\ud800", FP),
        _latest("2026-01-01T00:00:00+00:00", "a b", FP),
        _latest(5, "py-1", FP),
        latest.PREFIX + "é",
    ],
)
def test_a_forged_newest_first_cursor_is_a_bad_after(cursor: str) -> None:
    with pytest.raises(BadParam) as caught:
        latest.decode(cursor, FP)
    assert caught.value.param == "after"


def test_a_newest_first_cursor_decodes_to_utc() -> None:
    at = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert latest.decode(latest.encode(at, "py-1", FP), FP) == (at.astimezone(UTC), "py-1")


# --- filter time and query text --------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14))),
    ],
)
def test_posted_after_beyond_the_utc_years_is_an_invalid_filter(at: datetime) -> None:
    with pytest.raises(InvalidFilter) as caught:
        PostingFilter(posted_after=at).validate()
    assert caught.value.field == "posted_after"
    assert "outside the years 1-9999" in caught.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [("python \ud800", "an unpaired surrogate (U+D800)"), ("py\x00thon", "a control character")],
)
def test_query_text_must_be_valid_unicode_text(text: str, words: str) -> None:
    embedder = SimpleNamespace(name="fake", dim=3)
    service = SearchService(Settings(), None, None, embedder)  # type: ignore[arg-type]  # checks only
    with pytest.raises(BadInput) as caught:
        service.check_query(text)
    assert caught.value.field == "query"
    assert words in caught.value.message
    assert service.check_query(" Python\tdeveloper\n") == "python developer"
