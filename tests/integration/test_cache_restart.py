"""L2 across API restarts and embedder switches, on the real stack.

Redis outlives API instances. An update committed while no instance runs must not be
served from L2 by the next one (invariant 6, docs/architecture.md), and an instance on
another embedder must not be served the vectors or pages of the first.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from api.cache import TieredCache
from api.service import SearchService
from schemas.domain import encode_event
from schemas.settings import Settings
from tests.support.api import POSTING, app_settings, running_api, wait_until
from tests.support.sink import WorkerProcess, make_topics, posting, produce, table

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def invalidations_end(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def test_an_update_committed_while_no_api_ran_is_not_served_from_l2(
    stack: Settings, tmp_path: Path
) -> None:
    topics = await make_topics(stack, partitions=3)
    settings = app_settings(stack, topics, embedder="hash")
    pid = f"restart-{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(11)
    worker = WorkerProcess(topics, tmp_path).start()
    try:

        async def landed(version: int) -> bool:
            return (await table(stack)).get(pid, (0,))[0] == version

        async def announced(count: int) -> bool:
            return await invalidations_end(stack, topics.invalidations) >= count

        v1 = posting(pid, 1, rng)
        await produce(stack, topics.postings, [(pid.encode(), encode_event(v1))])
        await wait_until(lambda: landed(1), timeout=60, what="version 1 in PostgreSQL")
        await wait_until(lambda: announced(1), timeout=30, what="its invalidation")

        async with running_api(settings) as api_a:  # serves v1 and puts it in L2
            data = await api_a.gql(POSTING, {"id": pid})
            assert data["posting"]["version"] == 1
            redis = Redis.from_url(stack.redis_dsn)
            try:

                async def in_l2() -> bool:
                    raw = await redis.get(f"jobstream:posting:{pid}")
                    return raw is not None and raw[:1] == b"v"

                await wait_until(in_l2, timeout=5, what="version 1 in L2")
            finally:
                await redis.aclose()

        # No API instance runs: the sink commits version 2 and announces it.
        v2 = posting(pid, 2, rng)
        await produce(stack, topics.postings, [(pid.encode(), encode_event(v2))])
        await wait_until(lambda: landed(2), timeout=60, what="version 2 in PostgreSQL")
        await wait_until(lambda: announced(2), timeout=30, what="its invalidation")

        started = time.monotonic()
        async with running_api(settings) as api_b:
            seen: list[int] = []

            async def fresh() -> bool:
                data: dict[str, Any] = await api_b.gql(POSTING, {"id": pid})
                seen.append(data["posting"]["version"])
                return bool(seen[-1] == 2)

            # Within a second of serving; the first answer must already be version 2.
            await wait_until(fresh, timeout=1.0, what="version 2 from the restarted API")
            print(f"first answers after restart: {seen} ({time.monotonic() - started:.2f}s)")
            assert seen == [2]
            status = (await api_b.client.get("/health")).json()["checks"]["kafka_consumer"]
            assert status["l2_in_use"] is True
    finally:
        worker.terminate()


class NamedEmbedder:
    """A constant embedder with a name: two names give two different vectors."""

    def __init__(self, name: str, value: float) -> None:
        self.name, self.dim, self.value, self.calls = name, 8, value, 0

    def embed(self, texts: list[str], kind: str = "passage") -> Any:
        self.calls += len(texts)
        return np.full((len(texts), self.dim), self.value, dtype=np.float32)


async def test_instances_on_two_embedders_share_redis_but_never_each_others_vectors(
    stack: Settings,
) -> None:
    namespace = f"it-{uuid.uuid4().hex[:10]}"
    clients = [Redis.from_url(stack.redis_dsn) for _ in range(2)]
    caches = [TieredCache(stack, c, namespace=namespace) for c in clients]
    embedders = [NamedEmbedder("model-a", 0.5), NamedEmbedder("model-b", -0.5)]
    services = [
        SearchService(stack, None, cache, embedder)  # type: ignore[arg-type]  # no repository: embed() only
        for cache, embedder in zip(caches, embedders, strict=True)
    ]
    try:
        first = await services[0].embed("python developer")
        await asyncio.sleep(0.1)  # the L2 write follows the answer
        second = await services[1].embed("python developer")
        assert embedders[1].calls == 1  # computed by its own model, not read from L2
        assert first[0] == 0.5
        assert second[0] == -0.5
        again = await services[1].embed("python developer")
        assert again[0] == -0.5
        keys = sorted(k.decode() for k in await clients[0].keys(f"{namespace}:embedding:*"))
        assert len(keys) == 2, keys
    finally:
        for cache in caches:
            await cache.aclose()
        for client in clients:
            await client.aclose()
