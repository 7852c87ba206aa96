"""TieredCache and InvalidationListener against the real Redis and Kafka of the stack.

Each test has its own key namespace and its own invalidation topic, so tests never see
each other's entries or events.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis.asyncio import Redis

from api.cache import InvalidationListener, JsonCodec, TieredCache
from api.cache.l2 import TOMBSTONE
from api.cache.stats import Freshness
from api.metrics import ApiMetrics
from infra.stack import process
from infra.stack import redis as redis_service
from infra.stack.paths import StackPaths
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

CODEC: JsonCodec[Any] = JsonCodec(lambda v: v, lambda d: d)


def client(settings: Settings) -> Redis:
    return Redis.from_url(settings.redis_dsn, socket_timeout=0.2, socket_connect_timeout=0.2)


def returning(value: Any) -> tuple[Callable[[], Any], list[int]]:
    calls: list[int] = []

    async def loader() -> Any:
        calls.append(1)
        return value

    return loader, calls


async def eventually(condition: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until condition() held (polled every 5 ms), or timeout_s."""
    started = time.perf_counter()
    for _ in range(int(timeout_s / 0.005)):
        if condition():
            break
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


def freshness(metrics: ApiMetrics, path: str) -> tuple[float, float]:
    """The count and sum of ``jobstream_api_freshness_seconds{path}``."""
    sample = metrics.registry.get_sample_value
    labels = {"path": path}
    count = sample("jobstream_api_freshness_seconds_count", labels)
    total = sample("jobstream_api_freshness_seconds_sum", labels)
    assert count is not None
    assert total is not None
    return count, total


@pytest.fixture
def namespace() -> str:
    return f"it-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def private(stack: Settings) -> Settings:
    """The stack's settings with a fresh one-partition invalidation topic."""
    topic = f"cache-inv-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    return stack.model_copy(update={"topic_invalidations": topic})


async def test_l2_is_shared_between_two_instances(stack: Settings, namespace: str) -> None:
    ra, rb = client(stack), client(stack)
    a = TieredCache(stack, ra, namespace=namespace)
    b = TieredCache(stack, rb, namespace=namespace)
    try:
        loader, calls = returning({"id": "p1", "version": 1})
        assert await a.get_or_load("posting", "p1", loader, CODEC) == {"id": "p1", "version": 1}
        await asyncio.sleep(0.05)  # the L2 write follows the answer
        assert await b.get_or_load("posting", "p1", loader, CODEC) == {"id": "p1", "version": 1}
        assert calls == [1]
        assert b.stats().l2_hits == 1
        assert 0 < await ra.pttl(f"{namespace}:posting:p1") <= stack.l2_ttl_s * 1000
        a.start_generation(5)
        b.start_generation(5)
        page, page_calls = returning(["p1"])
        await a.get_or_load("search", "q", page, CODEC, generational=True)
        await asyncio.sleep(0.05)
        await b.get_or_load("search", "q", page, CODEC, generational=True)
        assert page_calls == [1]

        loaded: list[list[str]] = []

        async def load_many(ids: list[str]) -> dict[str, Any]:
            loaded.append(ids)
            return {i: {"id": i} for i in ids if i != "gone"}

        ids = [f"m{i}" for i in range(20)] + ["gone"]
        assert len(await a.get_many_or_load("posting", ids, load_many, CODEC)) == 20
        await asyncio.sleep(0.05)
        assert len(await b.get_many_or_load("posting", ids, load_many, CODEC)) == 20
        assert loaded == [ids, ["gone"]]  # b: 20 from one MGET, only the absent id loaded
    finally:
        await a.aclose()
        await b.aclose()
        await ra.aclose()
        await rb.aclose()


async def test_batch_read_repairs_an_undecodable_l2_entry(stack: Settings, namespace: str) -> None:
    """A bad L2 entry (another version's format, corruption) is replaced on the batch path
    as on the single-key path, so the next batch read is served from L2 again instead of
    reloading it from PostgreSQL until the entry's TTL runs out."""
    redis = client(stack)
    cache = TieredCache(stack, redis, namespace=namespace)
    bad = {"p1": b"vnot json", "p2": b"?unknown tag"}
    try:
        for key, raw in bad.items():
            await redis.set(f"{namespace}:posting:{key}", raw, px=60_000)
        loaded: list[list[str]] = []

        async def load_many(ids: list[str]) -> dict[str, Any]:
            loaded.append(ids)
            return {i: {"id": i} for i in ids}

        expected = {"p1": {"id": "p1"}, "p2": {"id": "p2"}}
        assert await cache.get_many_or_load("posting", bad, load_many, CODEC) == expected
        await asyncio.sleep(0.05)  # the L2 write follows the answer
        cache.clear_l1()
        assert await cache.get_many_or_load("posting", bad, load_many, CODEC) == expected
        assert loaded == [["p1", "p2"]]  # the second read came from L2
        assert cache.stats().l2_hits == 2
        for key in bad:
            assert await redis.get(f"{namespace}:posting:{key}") == b'v{"id":"%s"}' % key.encode()
    finally:
        await cache.aclose()
        await redis.aclose()


async def test_two_instances_drop_a_changed_posting_within_a_second(
    private: Settings, namespace: str
) -> None:
    settings = private
    ra, rb = client(settings), client(settings)
    a = TieredCache(settings, ra, namespace=namespace)
    b = TieredCache(settings, rb, namespace=namespace)
    metrics = ApiMetrics()  # both instances count in one histogram here
    la, lb = (
        InvalidationListener(settings, c, freshness=Freshness(metrics.freshness)) for c in (a, b)
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await la.start()
        await lb.start()
        assert la.status()["connected"]
        assert lb.status()["connected"]
        start_gen = a.generation
        assert start_gen == b.generation

        old, _ = returning({"id": "p1", "version": 1})
        await a.get_or_load("posting", "p1", old, CODEC)
        await asyncio.sleep(0.05)
        await b.get_or_load("posting", "p1", old, CODEC)  # from L2, now in both L1s
        await a.get_or_load("search", "q", returning(["p1"])[0], CODEC, generational=True)

        event = events_pb2.Invalidation(
            postings=[events_pb2.ChangedPosting(id="p1", version=2)], source="it"
        )
        event.committed_at.GetCurrentTime()
        sent = time.perf_counter()
        await producer.send_and_wait(settings.topic_invalidations, event.SerializeToString())

        new, _ = returning({"id": "p1", "version": 2})
        dropped: dict[str, float] = {}
        while len(dropped) < 2 and time.perf_counter() - sent < 3:
            for name, cache in (("a", a), ("b", b)):
                if name not in dropped:
                    got = await cache.get_or_load("posting", "p1", new, CODEC)
                    if got["version"] == 2:
                        dropped[name] = time.perf_counter() - sent
            await asyncio.sleep(0.005)
        print(f"posting dropped after: {dropped}")
        assert set(dropped) == {"a", "b"}
        assert max(dropped.values()) < 1.0

        # Search pages follow within the coalescing window, on both instances alike.
        await eventually(lambda: a.generation > start_gen, 1.0)
        moved = time.perf_counter() - sent
        print(f"generation moved after: {moved:.3f}s")
        assert a.generation == b.generation == start_gen + 1
        assert moved < 1.0
        fresh, fresh_calls = returning(["p1", "p2"])
        assert await a.get_or_load("search", "q", fresh, CODEC, generational=True) == ["p1", "p2"]
        assert fresh_calls == [1]

        # L2 holds the tombstone or the new version, filled by a load that began after
        # its instance applied the event; never version 1 again.
        raw = await ra.get(f"{namespace}:posting:p1")
        assert raw is not None
        assert raw[:1] == TOMBSTONE or b'"version":2' in raw
        for status in (la.status(), lb.status()):
            assert status["connected"] is True
            assert status["events"] == 1
            assert status["lag"] == 0
            assert status["last_event_at"] is not None
        # jobstream_api_freshness_seconds: commit -> eviction, once per instance.
        count, total = freshness(metrics, "kafka")
        assert count == 2
        assert 0 < total < sum(dropped.values()) + 0.05
        assert freshness(metrics, "outbox") == (0, 0)
    finally:
        await producer.stop()
        for listener in (la, lb):
            await listener.stop()
        for cache in (a, b):
            await cache.aclose()
        await ra.aclose()
        await rb.aclose()


async def test_listener_starts_at_the_end_of_the_log(private: Settings, namespace: str) -> None:
    settings = private
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    cache = TieredCache(settings, None, namespace=namespace)
    listener = InvalidationListener(settings, cache)
    try:
        for _ in range(3):
            old = events_pb2.Invalidation(postings=[events_pb2.ChangedPosting(id="old")])
            await producer.send_and_wait(settings.topic_invalidations, old.SerializeToString())
        await listener.start()
        assert cache.generation == 3  # joined at the end: the three old events are not replayed
        await producer.send_and_wait(settings.topic_invalidations, b"\xff not protobuf")
        await eventually(lambda: listener.status()["events"] >= 1, 2.0)
        status = listener.status()
        assert status["events"] == 1
        assert status["bad_records"] == 1
        assert cache.log_position == 4  # a bad record still moves the generation
    finally:
        await listener.stop()
        await producer.stop()


async def test_redis_outage_falls_back_and_recovers(stack: Settings, namespace: str) -> None:
    if stack.external_redis:
        pytest.skip("Redis is external: the test cannot stop it")
    paths = StackPaths.create(stack.home)
    redis = client(stack)
    cache = TieredCache(stack, redis, namespace=namespace, breaker_open_s=0.5)
    try:
        loader, calls = returning({"v": 1})
        await cache.get_or_load("posting", "warm", loader, CODEC)
        assert cache.redis_healthy

        await asyncio.to_thread(redis_service.stop, stack, paths)
        started = time.perf_counter()
        for i in range(30):
            assert await cache.get_or_load("posting", f"k{i}", loader, CODEC) == {"v": 1}
        assert await cache.get_or_load("posting", "warm", loader, CODEC) == {"v": 1}  # L1
        elapsed = time.perf_counter() - started
        print(f"31 lookups with Redis down: {elapsed * 1000:.1f} ms")
        assert elapsed < 1.0  # the breaker skips Redis after the first error
        assert not cache.redis_healthy
        assert cache.stats().l2_errors >= 1
        assert len(calls) == 31
        cache.apply_invalidation(
            events_pb2.Invalidation(postings=[events_pb2.ChangedPosting(id="warm")]), 0
        )

        await asyncio.to_thread(redis_service.start, stack, paths)
        recovered = await eventually(lambda: cache.redis_healthy, 10.0)
        print(f"healthy again {recovered:.2f}s after Redis was restarted")
        assert cache.redis_healthy
        # The eviction made during the outage reached Redis before L2 was used again.
        assert await redis.get(f"{namespace}:posting:warm") == b"x1"
        cache.clear_l1()
        await cache.get_or_load("posting", "k0", loader, CODEC)  # refill L2
        await asyncio.sleep(0.05)
        cache.clear_l1()
        hits = cache.stats().l2_hits
        await cache.get_or_load("posting", "k0", loader, CODEC)
        assert cache.stats().l2_hits == hits + 1
    finally:
        if not process.running(paths.pidfile(redis_service.NAME)):
            await asyncio.to_thread(redis_service.start, stack, paths)
        await cache.aclose()
        await redis.aclose()


async def test_an_invalidation_kafka_has_not_taken_is_applied_from_the_outbox(
    stack: Settings, namespace: str
) -> None:
    """A committed batch whose event Kafka has not acked (its partition's leader lost):
    no event arrives, but every instance reads the late outbox row and drops the posting
    within a second, from L1 and L2. A row younger than ``late_s`` is left to Kafka."""
    import asyncpg

    from api.cache.outbox import OutboxWatch

    ra, rb = client(stack), client(stack)
    a = TieredCache(stack, ra, namespace=namespace)
    b = TieredCache(stack, rb, namespace=namespace)
    pool = await asyncpg.create_pool(stack.postgres_dsn, min_size=1, max_size=2)
    posting = f"outbox-{uuid.uuid4().hex[:8]}"
    metrics = ApiMetrics()
    watches = [
        OutboxWatch(pool, c, every_s=0.05, late_s=0.3, freshness=Freshness(metrics.freshness))
        for c in (a, b)
    ]
    event = events_pb2.Invalidation(
        postings=[events_pb2.ChangedPosting(id=posting, version=2)], source="it"
    )
    rows: list[int] = []
    try:
        old, _ = returning({"id": posting, "version": 1})
        for cache in (a, b):
            await cache.get_or_load("posting", posting, old, CODEC)
        for watch in watches:
            watch.start()
        event.committed_at.GetCurrentTime()  # as the sink stamps it in its transaction
        committed = time.perf_counter()
        rows.append(
            await pool.fetchval(
                "INSERT INTO invalidation_outbox (payload) VALUES ($1) RETURNING id",
                event.SerializeToString(),
            )
        )
        new, _ = returning({"id": posting, "version": 2})
        await asyncio.sleep(0.15)  # younger than late_s: Kafka's job still
        assert (await a.get_or_load("posting", posting, new, CODEC))["version"] == 1
        sent = time.perf_counter()
        dropped: dict[int, float] = {}
        while len(dropped) < 2 and time.perf_counter() - sent < 3:
            for i, cache in enumerate((a, b)):
                if i not in dropped:
                    got = await cache.get_or_load("posting", posting, new, CODEC)
                    if got["version"] == 2:
                        dropped[i] = time.perf_counter() - sent
            await asyncio.sleep(0.01)
        assert set(dropped) == {0, 1}, dropped
        assert max(dropped.values()) < 1.0
        assert all(w.evicted == 1 for w in watches)
        # Counted on the outbox path, late_s and more after the commit, under the 1 s bound.
        count, total = freshness(metrics, "outbox")
        assert count == 2
        assert 2 * 0.3 <= total <= 2 * (time.perf_counter() - committed)
        raw = await ra.get(f"{namespace}:posting:{posting}")
        assert raw is None or raw[:1] == TOMBSTONE or b'"version":2' in raw
    finally:
        for watch in watches:
            await watch.aclose()
        await pool.execute("DELETE FROM invalidation_outbox WHERE id = ANY($1)", rows)
        await pool.close()
        for cache in (a, b):
            await cache.aclose()
        await ra.aclose()
        await rb.aclose()
