"""``similar`` fields are batched per request and a request's database work is bounded,
on the real stack: a page with nested ``similar`` makes a few statements whatever its
size, with the lists the per-posting statement gives, and one operation never holds more
than ``JOBSTREAM_API_REQUEST_DB_CONNECTIONS`` pooled connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from api.app import Resources
from api.search import PostingFilter
from api.search import sql as search_sql
from schemas.settings import Settings
from tests.integration.test_query_limits import (
    postings_locked,
    served,
    unknown_id,
    waiting_api_queries,
)
from tests.support.api import Api, app_settings, wait_until
from tests.support.sink import Topics

pytestmark = pytest.mark.integration

NESTED = """
query Nested($query: String!, $n: Int!, $k: Int!, $j: Int!) {
  search(query: $query, first: $n) {
    edges { node { id
      similar(first: $k) { score node { id similar(first: $j) { node { id } } } } } }
  }
}
"""


class CountingPool:
    """The app's pool, recording every statement its connections run."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.statements: list[str] = []

    def _log(self, record: Any) -> None:
        self.statements.append(record.query)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self.pool.acquire() as conn:
            conn.add_query_logger(self._log)
            try:
                yield conn
            finally:
                conn.remove_query_logger(self._log)


def resources(api: Api) -> Resources:
    found: Resources = api.client.app.state.resources
    return found


async def test_nested_similar_takes_a_few_statements_with_unchanged_results(
    api: Api, stack: Settings
) -> None:
    res = resources(api)
    repository = res.service.repository
    counting = CountingPool(repository._pool)
    res.cache.clear_l1()
    repository._pool = counting
    try:
        # first values no other test asks for: nothing cached, every list loaded.
        data = await api.gql(NESTED, {"query": "python developer", "n": 30, "k": 7, "j": 3})
    finally:
        repository._pool = counting.pool
    edges = data["search"]["edges"]
    assert len(edges) == 30
    similar = [s for e in edges for s in e["node"]["similar"]]
    assert len(similar) == 30 * 7
    assert all(len(s["node"]["similar"]) == 3 for s in similar)
    lists = [s for s in counting.statements if "AS s(id, ord)" in s]
    # One batched statement per level (30 lists, then 210), not a statement per posting.
    assert len(lists) == 2, lists
    # The search, two levels of lists and their postings by id: a handful, not ~700.
    assert len(counting.statements) <= 12, counting.statements

    # The lists are what the per-posting statement gives (the exact top k, by (distance, id)).
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        for edge in edges[:10]:
            source = edge["node"]["id"]
            vector = await conn.fetchval(
                "SELECT embedding::text FROM postings WHERE id = $1", source
            )
            query, args = search_sql.exact_search(PostingFilter(), vector, None, 7, exclude=source)
            rows = await conn.fetch(query, *args)
            got = edge["node"]["similar"]
            assert [s["node"]["id"] for s in got] == [r["id"] for r in rows]
            for s, r in zip(got, rows, strict=True):
                assert s["score"] == pytest.approx(1 - float(r["distance"]), abs=1e-6)
    finally:
        await conn.close()


async def test_one_operation_holds_at_most_its_connections(stack: Settings, topics: Topics) -> None:
    settings = app_settings(
        stack, topics, api_statement_timeout_s=60.0, graphql_timeout_s=60.0, embedder="hash"
    )
    assert settings.api_request_db_connections == 2
    fields = " ".join(f'p{i}: posting(id: "{unknown_id()}") {{ id }}' for i in range(6))
    document = "{ " + fields + " }"
    async with served(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with postings_locked(stack):
            request = asyncio.create_task(client.post("/graphql", json={"query": document}))
            await wait_until(
                lambda: _waiting_at_least(stack, 2), timeout=10, what="the lookups to wait"
            )
            await asyncio.sleep(0.5)  # the other four would be waiting by now if they could
            assert await waiting_api_queries(stack) == 2
        response = await asyncio.wait_for(request, 10)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {f"p{i}": None for i in range(6)}


async def _waiting_at_least(stack: Settings, n: int) -> bool:
    return await waiting_api_queries(stack) >= n
