"""What the request limits cost per request, in-process (no stack, no socket).

Each ``measure_*`` function times one limit and returns its figures; ``main`` runs them
all and writes tests/bench/results/limits.json. Run: ``python -m tests.bench.bench_limits``.

- ``measure_cost_check``: :func:`api.graphql.cost.query_cost` alone (a new document) and
  its cached lookup (a document seen before) on the README's query, a full web-like
  search page and the issue's costly document.
- ``measure_cached_request``: the schema's whole execution of a search whose data is
  already at hand (a stub service answering at once: the cached path without its cache
  lookups, so the limits' share is shown at its largest), with and without the cost
  extension in the same run, and their ratio.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from graphql import parse

from api.graphql.context import Context
from api.graphql.cost import CostCache, CostLimit, query_cost
from api.graphql.schema import ApiSchema, build_schema
from api.search import SearchPage
from schemas.settings import Settings
from tests.integration.test_query_limits import COSTLY, README_QUERY, WEB_LIKE

RESULTS = Path(__file__).parent / "results" / "limits.json"

SEARCH = """query Search($q: String!) {
  search(query: $q, first: 20) {
    edges { cursor score node { id title company city similar(first: 6) { score node { id } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


class InstantService:
    """A search service whose every answer is at hand (an empty page)."""

    async def search(self, *_args: Any) -> tuple[SearchPage, dict[str, Any]]:
        return SearchPage(hits=(), end_cursor=None, has_next_page=False), {}

    def edge_cursors(self, *_args: Any) -> list[str]:
        return []


def per_call_us(fn: Callable[[], object], n: int) -> float:
    """Median of 5 rounds of ``n`` calls, in microseconds per call."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(rounds)


async def per_await_us(fn: Callable[[], Awaitable[object]], n: int) -> float:
    """Fastest of 5 rounds of ``n`` awaits, in microseconds per await (the fastest round is
    the least disturbed on a shared machine)."""
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            await fn()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    return min(rounds)


def measure_cost_check(n: int = 2000) -> dict[str, float]:
    """The walk of a document (a document seen for the first time) and the cached
    lookup (the same document again, as clients send it)."""
    schema = build_schema()._schema
    out: dict[str, float] = {}
    for name, text, variables in (
        ("readme_query", README_QUERY, {}),
        ("web_page_query", WEB_LIKE, {"query": "python"}),
        ("costly_document", COSTLY, {}),
    ):
        document = parse(text)

        def walk(document: Any = document, variables: Any = variables) -> object:
            return query_cost(schema, document, None, variables, max_page=100)

        def cached(
            document: Any = document,
            text: str = text,
            variables: Any = variables,
            costs: CostCache = CostCache(max_page=100, size=16),  # noqa: B008  # one per document
        ) -> object:
            return costs.cost(schema, text, document, None, variables)

        out[f"{name}_walk_us"] = round(per_call_us(walk, n), 2)
        out[f"{name}_cached_us"] = round(per_call_us(cached, n), 2)
    return out


def without_cost_limit(schema: ApiSchema) -> ApiSchema:
    """The same schema with the CostLimit extension left out (the baseline)."""
    schema.extensions = tuple(e for e in schema.extensions if not isinstance(e(), CostLimit))
    return schema


async def measure_cached_request(n: int = 300) -> dict[str, float]:
    settings = Settings.model_construct()
    context = Context(
        settings=settings,
        service=InstantService(),  # type: ignore[arg-type]  # a stub
        cache=None,  # type: ignore[arg-type]  # not used by search
        writer=None,  # type: ignore[arg-type]
        keys=None,  # type: ignore[arg-type]
        embedder=None,  # type: ignore[arg-type]
    )
    variables = {"q": "python developer"}

    def run(schema: ApiSchema) -> Callable[[], Awaitable[object]]:
        async def once() -> object:
            result = await schema.execute(SEARCH, variable_values=variables, context_value=context)
            assert not result.errors, result.errors
            return result

        return once

    limited, baseline = build_schema(), without_cost_limit(build_schema())
    for schema in (limited, baseline):  # warm the document caches
        await run(schema)()
    with_us, without_us = [], []
    for _ in range(5):  # interleaved, so drift hits both alike
        with_us.append(await per_await_us(run(limited), n))
        without_us.append(await per_await_us(run(baseline), n))
    with_cost, without_cost = min(with_us), min(without_us)
    return {
        "execute_with_cost_limit_us": round(with_cost, 2),
        "execute_without_cost_limit_us": round(without_cost, 2),
        "cost_limit_overhead_us": round(with_cost - without_cost, 2),
        "ratio": round(with_cost / without_cost, 4),
    }


def main() -> None:
    results = {
        "cost_check": measure_cost_check(),
        "cached_request": asyncio.run(measure_cached_request()),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
