"""Hostile and malformed input on the real stack: each case is a clear BAD_USER_INPUT (or a
400 page naming the parameter), never INTERNAL with a traceback or a bare 500.

The cases of issue #11: forged cursors (a non-ASCII mac, a lone surrogate in the filter
fingerprint, a newest-first cursor dated year 1 at +14:00), a lone surrogate in the query
text, ``postedAfter`` in year 1 with an offset, a ``Long`` literal ``1.5``, a JSON body
nested 20,000 deep, and a 5,000-digit integer. Against the API app and the corpus the
API tests load (real PostgreSQL, Redis, Kafka and MiniLM).
"""

from __future__ import annotations

import base64
import json
from html import unescape
from typing import Any

import pytest

from api.search import PostingFilter
from api.search.cursor import filter_fingerprint
from tests.support.api import SEARCH_IDS, Api

pytestmark = pytest.mark.integration

DEEP = 20_000
HUGE_INT = "9" * 5000
NO_FILTER = filter_fingerprint(PostingFilter().cache_key())  # what the home page's cursors carry


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def search_cursor(**changes: Any) -> str:
    """A search cursor in the documented format with forged fields (ASCII-escaped JSON,
    as an attacker's tool would write it)."""
    payload: dict[str, Any] = {"v": 1, "d": 0.5, "i": "py-1", "f": "0" * 12, "c": "0" * 16}
    payload.update(changes)
    return b64(json.dumps(payload, separators=(",", ":")).encode())


def latest_cursor(posted_at: str, posting_id: str = "py-1", fingerprint: str = NO_FILTER) -> str:
    return "n1:" + b64(json.dumps([posted_at, posting_id, fingerprint]).encode())


FORGED_SEARCH_CURSORS = {
    "non-ascii mac": search_cursor(c="é" * 16),
    "lone surrogate in the fingerprint": search_cursor(f="\ud800"),
    "lone surrogate in the id": search_cursor(i="\udc00"),
}

FORGED_LATEST_CURSORS = {
    "year 1 at +14:00": latest_cursor("0001-01-01T00:00:00+14:00"),
    "year 9999 at -14:00": latest_cursor("9999-12-31T23:59:59-14:00"),
    "lone surrogate in the id": latest_cursor("2026-01-01T00:00:00+00:00", "\ud800"),
    "lone surrogate in the fingerprint": latest_cursor(
        "2026-01-01T00:00:00+00:00", "py-1", "\ud800"
    ),
    "an id that is not a posting id": latest_cursor("2026-01-01T00:00:00+00:00", "a b"),
    "a number for the date": "n1:" + b64(b'[5,"py-1","x"]'),
}


async def gql(
    api: Api, query: str, variables: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """A GraphQL request whose JSON escapes non-ASCII (a lone surrogate travels as
    ``\\ud800``, as any client would send it; httpx's own encoder refuses it)."""
    return await post_raw(api, json.dumps({"query": query, "variables": variables or {}}))


async def post_raw(api: Api, body: str | bytes) -> tuple[int, dict[str, Any]]:
    response = await api.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text[:2000]
    document: dict[str, Any] = response.json()
    return response.status_code, document


def bad_user_input(document: dict[str, Any]) -> dict[str, Any]:
    """The one error of a refused request, asserted to be BAD_USER_INPUT."""
    errors = document.get("errors")
    assert errors, document
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
    assert "Traceback" not in json.dumps(document)
    error: dict[str, Any] = errors[0]
    return error


async def web_400(api: Api, url: str, param: str) -> str:
    response = await api.client.get(url, headers={"accept": "text/html"})
    assert response.status_code == 400, (url, response.status_code, response.text[:2000])
    html = unescape(response.text)
    assert f"The parameter {param} is not usable" in html.replace("<strong>", "").replace(
        "</strong>", ""
    ), html[:3000]
    assert "Traceback" not in html
    return html


# --- forged cursors --------------------------------------------------------------------


@pytest.mark.parametrize("cursor", FORGED_SEARCH_CURSORS.values(), ids=FORGED_SEARCH_CURSORS)
async def test_a_forged_search_cursor_is_bad_user_input_naming_after(api: Api, cursor: str) -> None:
    _, document = await gql(api, SEARCH_IDS, {"query": "python", "first": 2, "after": cursor})
    error = bad_user_input(document)
    assert error["extensions"]["field"] == "after"


@pytest.mark.parametrize("cursor", FORGED_SEARCH_CURSORS.values(), ids=FORGED_SEARCH_CURSORS)
async def test_a_forged_search_cursor_is_a_400_page(api: Api, cursor: str) -> None:
    await web_400(api, f"/?q=python&after={cursor}", "after")


@pytest.mark.parametrize("cursor", FORGED_LATEST_CURSORS.values(), ids=FORGED_LATEST_CURSORS)
async def test_a_forged_newest_first_cursor_is_a_400_page(api: Api, cursor: str) -> None:
    await web_400(api, f"/?after={cursor}", "after")


# --- text and times --------------------------------------------------------------------


async def test_a_lone_surrogate_in_the_query_text_is_bad_user_input(api: Api) -> None:
    status, document = await gql(api, SEARCH_IDS, {"query": "python \ud800 developer"})
    assert status == 400
    message = bad_user_input(document)["message"]
    assert message.startswith("variables.query contains a lone surrogate (U+D800)"), message
    # the same character written into the document itself
    status, document = await gql(api, '{ search(query: "python \ud800") { totalCount } }')
    assert status == 400
    assert "query contains a lone surrogate" in bad_user_input(document)["message"]
    # and as a GraphQL escape in the document: graphql-core's lexer refuses it
    _, document = await gql(api, '{ search(query: "python \\uD800") { totalCount } }')
    assert "Invalid Unicode escape" in bad_user_input(document)["message"]


async def test_a_lone_surrogate_in_a_variable_name_is_bad_user_input(api: Api) -> None:
    status, document = await post_raw(
        api, '{"query": "{ __typename }", "variables": {"\\ud800": 1}}'
    )
    assert status == 400
    assert "surrogate" in bad_user_input(document)["message"]


async def test_undecodable_bytes_in_the_page_query_are_replaced_not_a_500(api: Api) -> None:
    """Percent-encoded UTF-8 of a surrogate (or any invalid UTF-8) is decoded with
    replacement characters: an ordinary search, never a surrogate inside the service."""
    response = await api.client.get("/?q=python%ED%A0%80", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "python\ufffd" in unescape(response.text)


@pytest.mark.parametrize("posted_after", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_posted_after_out_of_range_with_an_offset_is_bad_user_input(
    api: Api, posted_after: str
) -> None:
    _, document = await gql(
        api, SEARCH_IDS, {"query": "python", "filter": {"postedAfter": posted_after}}
    )
    error = bad_user_input(document)
    assert error["extensions"]["field"] == "filter.postedAfter"
    assert "postedAfter" in error["message"] or "posted_after" in error["message"]


@pytest.mark.parametrize("posting_id", ["\x00", "a b", "x" * 129, ""])
async def test_a_posting_id_that_cannot_exist_is_bad_user_input(api: Api, posting_id: str) -> None:
    _, document = await gql(api, "query($id: ID!) { posting(id: $id) { id } }", {"id": posting_id})
    error = bad_user_input(document)
    assert error["extensions"]["field"] == "id"
    assert "is not a posting id" in error["message"]


# --- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["1.5", "1e3", HUGE_INT, "-" + HUGE_INT])
async def test_a_long_literal_that_is_no_64_bit_integer_is_bad_user_input(
    api: Api, literal: str
) -> None:
    query = f'{{ search(query: "python", filter: {{salaryMin: {literal}}}) {{ totalCount }} }}'
    error = bad_user_input((await gql(api, query))[1])
    assert "Long" in error["message"]
    assert len(error["message"]) < 400


@pytest.mark.parametrize("value", [10**30, -(10**19), 1.5, "1e3", "²", True])
async def test_a_long_variable_that_is_no_64_bit_integer_is_bad_user_input(
    api: Api, value: object
) -> None:
    query = 'query($s: Long) { search(query: "python", filter: {salaryMin: $s}) { totalCount } }'
    error = bad_user_input((await gql(api, query, {"s": value}))[1])
    assert error["message"].startswith("Variable '$s' has invalid value"), error
    assert "Long cannot represent" in error["message"]


async def test_a_huge_int_literal_is_bad_user_input(api: Api) -> None:
    query = f'{{ search(query: "python", first: {HUGE_INT}) {{ totalCount }} }}'
    error = bad_user_input((await gql(api, query))[1])
    assert "Int" in error["message"]
    assert len(error["message"]) < 400


async def test_a_5000_digit_integer_in_the_body_is_bad_user_input(api: Api) -> None:
    body = '{"query": "query($f: Int) { search(query: \\"x\\", first: $f) { totalCount } }",'
    body += f' "variables": {{"f": {HUGE_INT}}}}}'
    status, document = await post_raw(api, body)
    assert status == 400
    error = bad_user_input(document)
    assert "5000 digits" in error["message"]


# --- the request body ------------------------------------------------------------------


async def test_a_deeply_nested_json_body_is_bad_user_input(api: Api) -> None:
    nested = "[" * DEEP + "]" * DEEP
    status, document = await post_raw(
        api, '{"query": "{ __typename }", "variables": {"v": ' + nested + "}}"
    )
    assert status == 400
    assert "nested" in bad_user_input(document)["message"]


async def test_a_body_that_is_not_utf8_is_bad_user_input(api: Api) -> None:
    status, document = await post_raw(api, b'{"query": "{ search(query: \\"\xff\\") }"}')
    assert status == 400
    assert "not UTF-8" in bad_user_input(document)["message"]


async def test_the_api_still_answers_after_the_hostile_requests(api: Api) -> None:
    ids = await api.search_ids("python backend developer", first=3)
    assert len(ids) == 3
