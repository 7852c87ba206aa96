"""What one GraphQL request may cost, on the real stack: the cost and alias limits, the
execution timeout, database work cancelled when the client goes away, the statement and
pool-acquire timeouts, and the bounded ``operation`` label of the metrics.

A slow database is made for real: a second connection holds an ACCESS EXCLUSIVE lock on
``postings``, so the API's reads wait in PostgreSQL (``pg_stat_activity`` shows them) until
the lock goes or the query is cancelled. Lookups by ids that no cache holds reach it.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn

from api.app import create_app
from api.database import APPLICATION_NAME, POOL_MAX_SIZE
from schemas.settings import Settings
from tests.support.api import Api, app_settings, wait_until
from tests.support.provision import free_port
from tests.support.sink import Topics

pytestmark = pytest.mark.integration

# The document: 322 characters, three aliased searches with `similar` nested twice;
# it answered 24,000 nodes in 4.2 s before the cost bound.
COSTLY = (
    "{"
    + " ".join(
        f'{alias}:search(query:"python",first:20){{edges{{node{{'
        "similar(first:20){node{similar(first:20){node{id title}}}}}}}"
        for alias in "abc"
    )
    + "}"
)

# What the web UI shows for a search (a full page and each result's similar postings) and
# the README's example: both must pass with the default limit.
WEB_LIKE = """
query Page($query: String!) {
  search(query: $query, first: 100) {
    edges { cursor score node { id title company city countryCode remoteMode skills
      salary { min max currency } postedAt similar(first: 6) { score node { id title } } } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}
"""

README_QUERY = """
{
  search(query: "python backend developer", first: 10,
         filter: { remoteModes: [REMOTE], englishLevels: [BUSINESS, FLUENT],
                   experienceMinYears: 2, experienceMaxYears: 5,
                   skillsAll: ["python"], salaryMin: 50000, currency: "EUR" }) {
    edges { score cursor node { id title company city similar(first: 3) { node { id title } } } }
    pageInfo { hasNextPage endCursor }
  }
  facets(query: "python") { englishLevel { value count } experience { value count } }
  cacheStats { hitRate levels { level hits misses } generation redisHealthy }
}
"""

BY_IDS = "query Lookup($id: ID!) { posting(id: $id) { id title } }"


def unknown_id() -> str:
    """An id no cache holds, so the lookup reaches PostgreSQL."""
    return f"probe-{uuid.uuid4().hex}"


async def raw_doc(api: Api, query: str, variables: dict[str, Any] | None = None) -> Any:
    status, doc = await api.raw(query, variables)
    assert status == 200, (status, doc)
    return doc


# --- cost and aliases -------------------------------------------------------------------


async def test_the_costly_document_is_refused_before_execution(api: Api, stack: Settings) -> None:
    assert len(COSTLY) == 322
    started = time.perf_counter()
    doc = await raw_doc(api, COSTLY)
    elapsed = time.perf_counter() - started
    assert doc.get("data") is None, "the document was executed"
    [error] = doc["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "JOBSTREAM_MAX_QUERY_COST" in error["message"]
    assert f"{stack.max_query_cost:,}" in error["message"]
    cost = error["extensions"]["cost"]
    assert cost > stack.max_query_cost
    assert f"{cost:,}" in error["message"]
    assert error["extensions"]["limit"] == stack.max_query_cost
    assert elapsed < 1.0


async def test_120_aliased_searches_are_refused(api: Api, stack: Settings) -> None:
    aliased = " ".join(f'a{i}: search(query: "q{i}") {{ totalCount }}' for i in range(120))
    doc = await raw_doc(api, "{ " + aliased + " }")
    assert doc.get("data") is None
    [error] = doc["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "120 aliases" in error["message"]
    assert "JOBSTREAM_MAX_ALIASES" in error["message"]
    assert str(stack.max_aliases) in error["message"]


async def test_a_few_aliases_pass(api: Api, stack: Settings) -> None:
    aliased = " ".join(
        f'a{i}: search(query: "python", first: 1) {{ totalCount }}'
        for i in range(stack.max_aliases)
    )
    data = await api.gql("{ " + aliased + " }")
    assert len(data) == stack.max_aliases


async def test_the_web_page_and_readme_queries_pass_and_report_their_cost(api: Api) -> None:
    doc = await raw_doc(api, WEB_LIKE, {"query": "python developer"})
    assert not doc.get("errors"), doc
    assert len(doc["data"]["search"]["edges"]) > 6
    # 1 connection + 100 edges + 100 nodes + 100 salaries + 600 similar + 600 nodes + 1 pageInfo
    assert doc["extensions"]["cost"] == {"requested": 1502, "limit": 5000}
    doc = await raw_doc(api, README_QUERY)
    assert not doc.get("errors"), doc
    assert 0 < doc["extensions"]["cost"]["requested"] < 200


async def test_the_cost_follows_variables(api: Api) -> None:
    nested = """query Nested($n: Int) {
      search(query: "python", first: $n) { edges { node { similar(first: $n) { node { id } } } } }
    }"""
    small = await raw_doc(api, nested, {"n": 10})
    assert not small.get("errors"), small
    assert small["extensions"]["cost"]["requested"] == 1 + 10 + 10 + 100 + 100
    large = await raw_doc(api, nested, {"n": 60})
    assert large.get("data") is None
    assert "JOBSTREAM_MAX_QUERY_COST" in large["errors"][0]["message"]
    # Defaults count too: search's 20 and similar's 5.
    default = await raw_doc(api, nested, {})
    assert default["extensions"]["cost"]["requested"] == 1 + 20 + 20 + 100 + 100


async def test_fragments_count_where_they_are_spread(api: Api) -> None:
    query = """
    query { search(query: "python", first: 50) { edges { node { ...Deep } } } }
    fragment Deep on Posting { similar(first: 20) { node { ...Near } } }
    fragment Near on Posting { similar(first: 20) { node { id } } }
    """
    doc = await raw_doc(api, query)
    assert doc.get("data") is None
    assert "JOBSTREAM_MAX_QUERY_COST" in doc["errors"][0]["message"]
    assert doc["errors"][0]["extensions"]["cost"] == 1 + 50 + 50 + 1000 + 1000 + 20000 + 20000


# --- a slow database: timeouts and cancellation ------------------------------------------


@asynccontextmanager
async def postings_locked(stack: Settings) -> AsyncIterator[None]:
    """Reads of ``postings`` wait while this holds an ACCESS EXCLUSIVE lock on it."""
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("LOCK TABLE postings IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await tx.rollback()
    finally:
        await conn.close()


async def waiting_api_queries(stack: Settings) -> int:
    """The API's statements that are running in PostgreSQL now."""
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = $1 AND state = 'active'",
                APPLICATION_NAME,
            )
        )
    finally:
        await conn.close()


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[str]:
    """The app behind a real uvicorn server (a real socket, so a client can hang up)."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert not task.done(), "the server stopped"
            assert time.monotonic() < deadline, "the server did not start"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def lookup(client: httpx.AsyncClient) -> tuple[int, Any]:
    """A GraphQL lookup of an id no cache holds, through a real socket."""
    response = await client.post(
        "/graphql", json={"query": BY_IDS, "variables": {"id": unknown_id()}}
    )
    return response.status_code, response.json()


async def test_a_slow_operation_times_out_and_its_query_is_cancelled(
    stack: Settings, topics: Topics
) -> None:
    settings = app_settings(
        stack, topics, graphql_timeout_s=1.0, api_statement_timeout_s=60.0, embedder="hash"
    )
    async with (
        served(settings) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        postings_locked(stack),
    ):
        started = time.perf_counter()
        status, doc = await lookup(client)
        elapsed = time.perf_counter() - started
        assert status == 200, doc
        [error] = doc["errors"]
        assert error["extensions"]["code"] == "UNAVAILABLE"
        assert "JOBSTREAM_GRAPHQL_TIMEOUT_S" in error["message"]
        assert 1.0 <= elapsed < 3.0
        await wait_until(
            lambda: _none_waiting(stack), timeout=2, what="the timed-out query to be cancelled"
        )


async def _none_waiting(stack: Settings) -> bool:
    return await waiting_api_queries(stack) == 0


async def test_statement_timeout_answers_unavailable_on_graphql_and_pages(
    stack: Settings, topics: Topics
) -> None:
    settings = app_settings(stack, topics, api_statement_timeout_s=0.5, embedder="hash")
    async with (
        served(settings) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
        postings_locked(stack),
    ):
        status, doc = await lookup(client)
        assert status == 200, doc
        [error] = doc["errors"]
        assert error["extensions"]["code"] == "UNAVAILABLE"
        assert "JOBSTREAM_API_STATEMENT_TIMEOUT_S" in error["message"]
        page = await client.get(f"/postings/{unknown_id()}", headers={"accept": "text/html"})
        assert page.status_code == 503
        assert "JOBSTREAM_API_STATEMENT_TIMEOUT_S" in page.text


async def test_an_exhausted_pool_answers_unavailable_quickly(
    stack: Settings, topics: Topics
) -> None:
    settings = app_settings(
        stack,
        topics,
        api_pool_acquire_timeout_s=0.5,
        api_statement_timeout_s=60.0,
        graphql_timeout_s=60.0,
        embedder="hash",
    )
    async with served(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with postings_locked(stack):
            holders = [asyncio.create_task(lookup(client)) for _ in range(POOL_MAX_SIZE)]
            await wait_until(
                lambda: _all_waiting(stack), timeout=10, what="every pooled connection to wait"
            )
            started = time.perf_counter()
            status, doc = await lookup(client)
            elapsed = time.perf_counter() - started
            assert status == 200, doc
            [error] = doc["errors"]
            assert error["extensions"]["code"] == "UNAVAILABLE"
            assert "JOBSTREAM_API_POOL_ACQUIRE_TIMEOUT_S" in error["message"]
            assert 0.5 <= elapsed < 2.0
            page = await client.get(f"/postings/{unknown_id()}", headers={"accept": "text/html"})
            assert page.status_code == 503
        # The lock is gone: the waiting lookups finish (nothing found) and the pool serves.
        for status, doc in await asyncio.wait_for(asyncio.gather(*holders), 10):
            assert status == 200, doc
            assert doc["data"] == {"posting": None}, doc
        assert (await lookup(client))[1]["data"] == {"posting": None}


async def test_a_lost_database_connection_answers_unavailable_not_internal(
    stack: Settings, topics: Topics
) -> None:
    """PostgreSQL going away under a statement (here: its backend terminated, as a
    crash or a failover does) is UNAVAILABLE with "retry shortly", never INTERNAL; the
    next request gets a fresh connection."""
    settings = app_settings(
        stack, topics, api_statement_timeout_s=60.0, graphql_timeout_s=60.0, embedder="hash"
    )
    async with served(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        async with postings_locked(stack):
            waiting = asyncio.create_task(lookup(client))
            await wait_until(
                lambda: _one_waiting(stack), timeout=10, what="the lookup to wait in PostgreSQL"
            )
            conn = await asyncpg.connect(stack.postgres_dsn)
            try:
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = $1",
                    APPLICATION_NAME,
                )
            finally:
                await conn.close()
            status, doc = await asyncio.wait_for(waiting, 10)
        assert status == 200, doc
        [error] = doc["errors"]
        assert error["extensions"]["code"] == "UNAVAILABLE", error
        assert "database is unreachable" in error["message"]
        assert "retry shortly" in error["message"]
        assert (await lookup(client))[1]["data"] == {"posting": None}


async def _one_waiting(stack: Settings) -> bool:
    return await waiting_api_queries(stack) >= 1


async def _all_waiting(stack: Settings) -> bool:
    return await waiting_api_queries(stack) >= POOL_MAX_SIZE


@pytest.mark.parametrize("path", ["graphql", "page"])
async def test_a_client_that_hangs_up_cancels_its_database_work(
    stack: Settings, topics: Topics, path: str
) -> None:
    settings = app_settings(
        stack, topics, api_statement_timeout_s=60.0, graphql_timeout_s=60.0, embedder="hash"
    )
    async with served(settings) as url, postings_locked(stack):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            request = asyncio.create_task(
                client.post("/graphql", json={"query": BY_IDS, "variables": {"id": unknown_id()}})
                if path == "graphql"
                else client.get(f"/postings/{unknown_id()}")
            )
            await wait_until(
                lambda: _some_waiting(stack), timeout=10, what="the request's queries to wait"
            )
            request.cancel()  # the client gives up and hangs up
        with pytest.raises(asyncio.CancelledError):
            await request
        # The statement is cancelled at once, not when the lock or a timeout ends it.
        await wait_until(
            lambda: _none_waiting(stack), timeout=2, what="the abandoned query to be cancelled"
        )


async def _some_waiting(stack: Settings) -> bool:
    return await waiting_api_queries(stack) > 0


# --- metrics ---------------------------------------------------------------------------


async def test_unknown_root_fields_share_one_metrics_label(api: Api) -> None:
    for i in range(50):
        await api.errors(f"{{ zz{i} }}")
    text = (await api.client.get("/metrics")).text
    assert not re.search(r'operation="[^"]*zz', text)
    assert 'jobstream_api_graphql_operations_total{operation="other",outcome="error"}' in text
    await api.gql("{ cacheStats { generation } }")
    text = (await api.client.get("/metrics")).text
    assert 'jobstream_api_graphql_operations_total{operation="cacheStats",outcome="ok"}' in text
