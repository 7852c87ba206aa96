"""The API in-process for integration and e2e tests: its settings on a test's topics, a
running app with GraphQL helpers, and the corpus published through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from pydantic import SecretStr
from redis.asyncio import Redis

from api.app import create_app
from schemas.settings import Settings
from tests.support.corpus import CORPUS
from tests.support.provision import PUBLISH_HEADERS
from tests.support.sink import Topics, make_topics, reset_table

ADMIN_TOKEN = "test-admin-token-0123456789"


async def reset_redis(settings: Settings) -> None:
    """Empty the L2 cache: its entries and tombstones are stamped with positions in another
    test's invalidation topic, which would refuse this test's fills (positions restart
    at 0 on a fresh topic)."""
    client = Redis.from_url(settings.redis_dsn)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


async def corpus_topics(stack: Settings) -> Topics:
    """Fresh topics, an empty table and an empty L2 for a module that loads CORPUS."""
    await reset_table(stack)
    await reset_redis(stack)
    return await make_topics(stack, partitions=3)


async def publish_corpus(api: Api, stack: Settings) -> None:
    """CORPUS through ``publishPosting``, then wait until the worker landed every row."""
    for doc in CORPUS:
        result = await api.publish(doc.input())
        assert result == {"accepted": {"id": doc.id, "version": 1}, "errors": []}

    async def landed() -> bool:
        conn = await asyncpg.connect(stack.postgres_dsn)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM postings")) == len(CORPUS)
        finally:
            await conn.close()

    await wait_until(landed, timeout=90, what="the corpus rows", interval=0.25)


def app_settings(stack: Settings, topics: Topics, **overrides: Any) -> Settings:
    """Settings of an API app on a test's private topics, with real MiniLM."""
    values: dict[str, Any] = {
        "topic_postings": topics.postings,
        "topic_dead_letters": topics.dead_letters,
        "topic_invalidations": topics.invalidations,
        "embedder": "minilm",
        "admin_token": SecretStr(ADMIN_TOKEN),
    }
    values.update(overrides)
    # A fresh object, not model_copy: postgres_dsn / redis_dsn are cached properties and
    # a copy would keep the old URLs.
    return Settings(**{**stack.model_dump(), **values})


class Api:
    """A running app (lifespan entered) with GraphQL helpers."""

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        response = await self.client.post("/graphql", json=body, headers=headers or {})
        return response.status_code, response.json()

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """``data`` of a request that must succeed without errors."""
        status, doc = await self.raw(query, variables, headers)
        assert status == 200, doc
        assert not doc.get("errors"), doc
        data: dict[str, Any] = doc["data"]
        return data

    async def errors(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        status, doc = await self.raw(query, variables, headers)
        assert status in (200, 400), (status, doc)
        assert doc.get("errors"), doc
        errors: list[dict[str, Any]] = doc["errors"]
        return errors

    async def publish(self, posting: dict[str, Any]) -> dict[str, Any]:
        """``publishPosting`` with the stack's publish key."""
        data = await self.gql(PUBLISH, {"input": posting}, PUBLISH_HEADERS)
        result: dict[str, Any] = data["publishPosting"]
        return result

    async def search_ids(
        self,
        query: str,
        filter: dict[str, Any] | None = None,
        first: int = 100,
        mode: str | None = None,
    ) -> list[str]:
        """Ids of one page; ``mode`` (HYBRID, SEMANTIC, KEYWORD) else the default's."""
        variables = {"query": query, "filter": filter, "first": first}
        document = SEARCH_IDS if mode is None else SEARCH_IDS_IN_MODE
        data = await self.gql(document, {**variables, **({"mode": mode} if mode else {})})
        return [edge["node"]["id"] for edge in data["search"]["edges"]]


@asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with AsyncTestClient(app=app, timeout=60) as client:
        yield Api(client)


PUBLISH = """
mutation Publish($input: PostingInput!) {
  publishPosting(input: $input) { accepted { id version } errors { field code message } }
}
"""

DELETE = """
mutation Delete($id: ID!, $version: Long!) {
  deletePosting(id: $id, version: $version) {
    accepted { id version } errors { field code message }
  }
}
"""

SEARCH_IDS = """
query Search($query: String!, $filter: PostingFilter, $first: Int, $after: String) {
  search(query: $query, filter: $filter, first: $first, after: $after) {
    edges { cursor score node { id title version } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

POSTING = """
query One($id: ID!) { posting(id: $id) { id version title } }
"""


async def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.05
) -> float:
    """Poll an async predicate; return the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while True:
        if await predicate():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


SEARCH_IDS_IN_MODE = """
query Search($query: String!, $filter: PostingFilter, $first: Int, $mode: SearchMode) {
  search(query: $query, filter: $filter, first: $first, mode: $mode) {
    edges { cursor score node { id title version } }
  }
}
"""
