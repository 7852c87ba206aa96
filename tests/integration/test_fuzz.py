"""Property-based fuzz of the public edges on the real stack: whatever a client sends,
the answer is never INTERNAL and never a 5xx.

- /graphql: documents generated from the schema by hypothesis-graphql, valid ones
  (``Mode.POSITIVE``, exercising the resolvers on the API tests' corpus) and ones with
  one schema violation each (``Mode.NEGATIVE``), strings with any character (lone
  surrogates, NUL) and ``Long`` literals of any size or kind; the publish mutations with
  a publish key, so the domain validation is fuzzed too (valid postings land in the
  module's own topics). The admin mutations are left out: they wait for a worker.
- the search page and its count endpoint: query strings of the page's parameters and
  others, with any text (surrogates percent-encoded as their UTF-8-style bytes), huge
  numbers and forged-looking cursors.

Bounded: a fixed number of examples each, no deadline (the stack's latency varies), no
example database, so the suite's time stays predictable.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema

from api.graphql.schema import sdl
from tests.support.api import Api
from tests.support.provision import PUBLISH_HEADERS

pytestmark = pytest.mark.integration

SDL = sdl()
QUERIES = ["search", "posting", "facets", "cacheStats"]
PUBLISH = ["publishPosting", "deletePosting"]

BOUNDED = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
LONG_NODES: st.SearchStrategy[ValueNode] = st.one_of(
    st.integers(-(2**70), 2**70).map(lambda n: IntValueNode(value=str(n))),
    st.integers(min_value=1, max_value=6000).map(lambda n: IntValueNode(value="9" * n)),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: FloatValueNode(value=repr(f))),
    ANY_TEXT.map(lambda s: StringValueNode(value=s)),
)


def documents(fields: list[str]) -> st.SearchStrategy[str]:
    def generated(mode: Mode, codec: str | None) -> st.SearchStrategy[str]:
        strategy: st.SearchStrategy[str] = from_schema(
            SDL, fields=fields, custom_scalars={"Long": LONG_NODES}, codec=codec, mode=mode
        )
        return strategy

    return st.one_of(
        generated(Mode.POSITIVE, "utf-8"),
        generated(Mode.NEGATIVE, "utf-8"),
        generated(Mode.POSITIVE, None),
    )


async def send(api: Api, document: str, headers: dict[str, str] | None = None) -> None:
    """POST the document (JSON with ASCII escapes, so any string travels) and check the
    answer: no 5xx, a JSON document, and no INTERNAL error."""
    response = await api.client.post(
        "/graphql",
        content=json.dumps({"query": document}),
        headers={"content-type": "application/json", **(headers or {})},
    )
    said = f"the document:\n{document}\ngot {response.status_code}: {response.text[:2000]}"
    assert response.status_code < 500, said
    answer: dict[str, Any] = response.json()
    codes = [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]
    assert "INTERNAL" not in codes, said
    assert "data" in answer or codes, said


@settings(BOUNDED, max_examples=200)
@given(document=documents(QUERIES))
async def test_no_query_document_gets_internal_or_a_5xx(api: Api, document: str) -> None:
    await send(api, document)


@settings(BOUNDED, max_examples=50)
@given(document=documents(PUBLISH))
async def test_no_publish_mutation_gets_internal_or_a_5xx(api: Api, document: str) -> None:
    await send(api, document, PUBLISH_HEADERS)


# --- the search page -------------------------------------------------------------------

PARAMS = ["q", "exp_min", "exp_max", "english", "remote", "type", "country", "city", "skills"]


def _cursor(prefix: str) -> st.SearchStrategy[str]:
    """A cursor-looking value: the page's or the API's prefix and base64 of any JSON."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
        max_leaves=8,
    )
    return json_values.map(
        lambda v: (
            prefix + base64.urlsafe_b64encode(json.dumps(v).encode()).decode("ascii").rstrip("=")
        )
    )


VALUES = st.one_of(
    ANY_TEXT,
    st.integers().map(str),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.sampled_from(["remote", "hybrid,onsite", "FULL_TIME", "fluent", "DE", "berlin", "-1"]),
)
QUERY_PAIRS = st.lists(
    st.tuples(st.sampled_from(PARAMS), VALUES)
    | st.tuples(st.just("after"), st.one_of(_cursor("n1:"), _cursor("e1:"), _cursor(""), ANY_TEXT))
    | st.tuples(ANY_TEXT, VALUES),
    max_size=6,
)


def query_string(pairs: list[tuple[str, str]]) -> str:
    """Percent-encoded pairs; a lone surrogate goes as the bytes a careless client sends."""

    def enc(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)


@settings(BOUNDED, max_examples=100)
@given(pairs=QUERY_PAIRS, path=st.sampled_from(["/", "/web/count"]))
async def test_no_search_url_gets_a_5xx(api: Api, pairs: list[tuple[str, str]], path: str) -> None:
    url = f"{path}?{query_string(pairs)}"
    response = await api.client.get(url, headers={"accept": "text/html"})
    said = f"{url}\ngot {response.status_code}: {response.text[:2000]}"
    assert response.status_code in (200, 400), said
    assert "Traceback" not in response.text, said
