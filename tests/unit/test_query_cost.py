"""The cost of GraphQL operations and the alias rule, on the real schema without a stack."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import get_introspection_query, parse

from api.graphql.cost import query_cost
from api.graphql.schema import build_schema
from schemas.settings import Settings

SCHEMA = build_schema()
GRAPHQL_SCHEMA = SCHEMA._schema


def cost(document: str, variables: dict[str, Any] | None = None, name: str | None = None) -> int:
    value = query_cost(GRAPHQL_SCHEMA, parse(document), name, variables, max_page=100)
    assert value is not None
    return value


NESTED = '{ search(query: "x", first: 20) { edges { node { similar(first: 20) { node {'
NESTED += " similar(first: 20) { node { id title } } } } } } } }"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ('{ posting(id: "a") { id title } }', 1),
        ('{ posting(id: "a") { id salary { min } } }', 2),
        ('{ search(query: "x") { totalCount } }', 1),
        ('{ search(query: "x") { edges { node { id } } pageInfo { hasNextPage } } }', 42),
        ('{ search(query: "x", first: 100) { edges { cursor node { id } } } }', 201),
        ('{ posting(id: "a") { similar { node { id } } } }', 11),
        (NESTED, 16_841),
        ("{ facets { englishLevel { value } remoteMode { count } } }", 3),
        ("{ cacheStats { hitRate levels { level } } __typename }", 2),
    ],
)
def test_objects_are_counted_at_the_first_of_every_enclosing_list(
    document: str, expected: int
) -> None:
    assert cost(document) == expected


def test_variables_defaults_and_the_page_cap() -> None:
    query = 'query Q($n: Int = 7) { posting(id: "a") { similar(first: $n) { score } } }'
    assert cost(query, {"n": 3}) == 1 + 3
    assert cost(query, {}) == 1 + 7
    assert cost(query, {"n": None}) == 1 + 5  # null: the argument's default
    assert cost(query, {"n": "many"}) == 1 + 5  # refused by coercion later
    assert cost(query, {"n": 10_000}) == 1 + 100  # refused by the page-size check later
    assert cost(query, {"n": -4}) == 1


def test_fragments_count_where_spread_and_fields_merge_like_execution() -> None:
    spread = """
    { posting(id: "a") { ...F ...F similar(first: 2) { score } } }
    fragment F on Posting { similar(first: 2) { node { id } } }
    """
    # one `similar` response key, merged: 2 x (1 + node)
    assert cost(spread) == 1 + 2 * 2
    inline = '{ posting(id: "a") { ... on Posting { salary { min } } } }'
    assert cost(inline) == 2


def test_the_operation_run_is_the_one_priced() -> None:
    document = 'query A { posting(id: "a") { id } } query B { cacheStats { hits } }'
    assert cost(document, name="B") == 1
    assert query_cost(GRAPHQL_SCHEMA, parse(document), None, {}, max_page=100) is None


def test_introspection_is_cheap() -> None:
    assert cost(get_introspection_query()) < Settings.model_construct().max_query_cost


async def test_a_costly_operation_is_refused_before_any_resolver_runs() -> None:
    result = await SCHEMA.execute(NESTED, context_value=None)
    assert result.data is None
    [error] = result.errors or []
    assert error.extensions == {"code": "BAD_USER_INPUT", "cost": 16_841, "limit": 5000}
    assert error.message.startswith("query cost 16,841 exceeds the limit 5,000")
    assert result.extensions == {"cost": {"requested": 16_841, "limit": 5000}}


async def test_aliases_are_limited_per_document() -> None:
    limits = Settings.model_construct(max_aliases=2)
    schema = build_schema(limits=limits)
    fields = " ".join(f"a{i}: cacheStats {{ hits }}" for i in range(3))
    result = await schema.execute("{ " + fields + " }", context_value=None)
    [error] = result.errors or []
    assert error.message == "the document has 3 aliases; the limit is 2 (JOBSTREAM_MAX_ALIASES)"
    assert error.extensions == {"code": "BAD_USER_INPUT", "aliases": 3, "limit": 2}


async def test_cached_costs_follow_the_variables_that_size_lists() -> None:
    query = "query Q($n: Int, $q: String!) { search(query: $q, first: $n) { totalCount } }"
    costs = []
    for variables in ({"n": 3, "q": "a"}, {"n": 3, "q": "b"}, {"n": 9, "q": "a"}, {"n": [1]}):
        result = await SCHEMA.execute(query, variable_values=variables, context_value=None)
        costs.append((result.extensions or {}).get("cost", {}).get("requested"))
    assert costs == [1, 1, 1, 1]  # a connection alone costs 1 whatever its size
    nested = 'query Q($n: Int) { posting(id: "a") { similar(first: $n) { score } } }'
    priced = [
        (await SCHEMA.execute(nested, variable_values={"n": n}, context_value=None)).extensions
        for n in (2, 2, 4)
    ]
    assert [p["cost"]["requested"] for p in priced if p] == [3, 3, 5]
