"""The real Redis: set, get and expiry."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from schemas.settings import Settings

pytestmark = pytest.mark.integration


async def test_set_get_and_expiry(stack: Settings) -> None:
    client = aioredis.Redis.from_url(stack.redis_dsn)
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert await client.set(key, b"value", px=300)
        assert await client.get(key) == b"value"
        assert 0 < await client.pttl(key) <= 300
        await asyncio.sleep(0.5)
        assert await client.get(key) is None
        assert await client.set(key, b"kept")
        assert await client.ttl(key) == -1
    finally:
        await client.delete(key)
        await client.aclose()
