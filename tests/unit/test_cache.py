"""TieredCache without a server: L1 bounds, single-flight, races, breaker, codecs, generation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
import structlog
from prometheus_client import CollectorRegistry, generate_latest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from api.cache import CodecError, JsonCodec, NumpyCodec, TieredCache
from api.cache.generation import Generation
from api.cache.l2 import FILL_LUA, TOMBSTONE_LUA
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings

BYTES: JsonCodec[Any] = JsonCodec(lambda v: v, lambda d: d)


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeRedis:
    """The few commands TieredCache uses, in memory, with an outage switch."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.down = False
        self.calls = 0
        self.set_delay = 0.0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise RedisConnectionError("connection refused")

    async def get(self, key: str) -> bytes | None:
        self._check()
        return self.data.get(key)

    async def set(self, key: str, value: bytes, px: int | None = None, nx: bool = False) -> bool:
        self._check()
        if self.set_delay:
            await asyncio.sleep(self.set_delay)
        if nx and key in self.data:
            return False
        self.data[key] = value
        return True

    async def eval(self, script: str, numkeys: int, key: str, *args: Any) -> int:
        self._check()
        return self.run_script(script, key, *args)

    def run_script(self, script: str, key: str, *args: Any) -> int:
        """FILL_LUA and TOMBSTONE_LUA, in Python."""
        cur = self.data.get(key)
        if script == TOMBSTONE_LUA:
            position = int(args[0])
            if cur is not None and cur[:1] == b"x" and int(cur[1:]) > position:
                return 0
            self.data[key] = b"x%d" % position
            return 1
        assert script == FILL_LUA
        payload, _, start, overwrite = args
        if cur is not None:
            if cur[:1] == b"x" and int(cur[1:]) > int(start):
                return 0
            if cur[:1] == b"v" and str(overwrite) != "1":
                return 0
        self.data[key] = payload
        return 1

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        self._check()
        return [self.data.get(k) for k in keys]

    async def ping(self) -> bool:
        self._check()
        return True

    async def scan(self, cursor: int, match: str, count: int) -> tuple[int, list[str]]:
        self._check()
        prefix = match.rstrip("*")
        return 0, [k for k in self.data if k.startswith(prefix)]

    async def unlink(self, *keys: str) -> int:
        self._check()
        return sum(self.data.pop(k, None) is not None for k in keys)

    def pipeline(self, transaction: bool = False) -> FakePipeline:
        return FakePipeline(self)


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.ops: list[tuple[Any, ...]] = []

    def eval(self, script: str, numkeys: int, key: str, *args: Any) -> None:
        self.ops.append((script, key, *args))

    async def execute(self) -> list[int]:
        self.redis._check()
        return [self.redis.run_script(*op) for op in self.ops]


def make(
    fake: FakeRedis | None = None, *, clock: Callable[[], float] = time.monotonic, **kw: Any
) -> TieredCache:
    options = {k: kw.pop(k) for k in list(kw) if k in {"breaker_open_s", "wall_clock"}}
    return TieredCache(settings(**kw), cast(Redis, fake), namespace="t", clock=clock, **options)


def counting(value: Any = "v") -> tuple[Callable[[], Any], list[int]]:
    calls: list[int] = []

    async def loader() -> Any:
        calls.append(1)
        return value

    return loader, calls


def invalidation(*ids: str, committed_at: float | None = None) -> events_pb2.Invalidation:
    event = events_pb2.Invalidation(
        postings=[events_pb2.ChangedPosting(id=i, version=2) for i in ids], source="test"
    )
    if committed_at is not None:
        event.committed_at.seconds = int(committed_at)
        event.committed_at.nanos = int((committed_at % 1) * 1e9)
    return event


# --- L1 ----------------------------------------------------------------------------------
async def test_l1_is_bounded_lru() -> None:
    cache = make(l1_max_entries=3)
    loader, calls = counting()
    for key in ("a", "b", "c"):
        await cache.get_or_load("posting", key, loader, BYTES)
    await cache.get_or_load("posting", "a", loader, BYTES)  # a is now most recent
    await cache.get_or_load("posting", "d", loader, BYTES)  # evicts b, the LRU
    assert len(calls) == 4
    assert cache.stats().l1_entries == 3
    await cache.get_or_load("posting", "a", loader, BYTES)
    assert len(calls) == 4
    await cache.get_or_load("posting", "b", loader, BYTES)
    assert len(calls) == 5


async def test_l1_entries_expire_after_ttl() -> None:
    clock = Clock()
    cache = make(clock=clock, l1_ttl_s=30.0)
    loader, calls = counting()
    await cache.get_or_load("posting", "a", loader, BYTES)
    clock.now += 29.9
    await cache.get_or_load("posting", "a", loader, BYTES)
    assert len(calls) == 1
    clock.now += 0.2
    await cache.get_or_load("posting", "a", loader, BYTES)
    assert len(calls) == 2
    stats = cache.stats()
    assert (stats.l1_hits, stats.l1_misses, stats.loads) == (1, 2, 2)


async def test_l1_off_with_zero_entries() -> None:
    cache = make(l1_max_entries=0)
    loader, calls = counting()
    await cache.get_or_load("posting", "a", loader, BYTES)
    await cache.get_or_load("posting", "a", loader, BYTES)
    assert len(calls) == 2
    assert cache.clear_l1() == 0


async def test_clear_l1_counts_entries() -> None:
    cache = make()
    loader, _ = counting()
    for key in ("a", "b"):
        await cache.get_or_load("posting", key, loader, BYTES)
    assert cache.clear_l1() == 2
    assert cache.stats().l1_entries == 0


# --- single flight, errors, None ---------------------------------------------------------
async def test_fifty_concurrent_callers_share_one_load() -> None:
    cache = make()
    calls: list[int] = []
    release = asyncio.Event()

    async def loader() -> dict[str, int]:
        calls.append(1)
        await release.wait()
        return {"n": 1}

    waiters = [
        asyncio.create_task(cache.get_or_load("search", "q", loader, BYTES)) for _ in range(50)
    ]
    await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*waiters)
    assert calls == [1]
    assert all(r == {"n": 1} for r in results)
    stats = cache.stats()
    assert stats.loads == 1
    assert stats.l1_misses == 50


async def test_a_cancelled_caller_does_not_cancel_the_shared_load() -> None:
    cache = make()
    release = asyncio.Event()

    async def loader() -> str:
        await release.wait()
        return "v"

    first = asyncio.create_task(cache.get_or_load("posting", "a", loader, BYTES))
    second = asyncio.create_task(cache.get_or_load("posting", "a", loader, BYTES))
    await asyncio.sleep(0.01)
    first.cancel()
    release.set()
    assert await second == "v"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_load_nobody_waits_for_any_more_is_cancelled() -> None:
    """The request went away (timeout, client gone): its database work stops too, and
    the next caller starts a fresh load instead of joining the cancelled one."""
    cache = make()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def hanging() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    for load in (
        lambda: cache.get_or_load("posting", "a", hanging, BYTES),
        lambda: cache.get_many_or_load("posting", ["a", "b"], lambda _: hanging(), BYTES),
    ):
        started.clear()
        cancelled.clear()
        caller = asyncio.create_task(load())
        await started.wait()
        caller.cancel()
        await asyncio.wait_for(cancelled.wait(), 1)
        loader, calls = counting()
        assert await cache.get_or_load("posting", "a", loader, BYTES) == "v"
        assert calls == [1]
        cache.clear_l1()


async def test_loader_exceptions_propagate_to_every_waiter_and_are_not_cached() -> None:
    cache = make()
    attempts: list[int] = []

    async def failing() -> str:
        attempts.append(1)
        await asyncio.sleep(0.01)
        raise LookupError("absent")

    results = await asyncio.gather(
        *(cache.get_or_load("posting", "x", failing, BYTES) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, LookupError) for r in results)
    assert attempts == [1]
    loader, calls = counting("found")
    assert await cache.get_or_load("posting", "x", loader, BYTES) == "found"
    assert calls == [1]
    assert cache.stats().load_errors == 1


async def test_none_is_returned_but_not_cached() -> None:
    fake = FakeRedis()
    cache = make(fake)
    loader, calls = counting(None)
    assert await cache.get_or_load("posting", "gone", loader, BYTES) is None
    assert await cache.get_or_load("posting", "gone", loader, BYTES) is None
    assert len(calls) == 2
    assert fake.data == {}


# --- L2 and invalidation -----------------------------------------------------------------
async def test_l2_is_shared_and_filled_with_prefix() -> None:
    fake = FakeRedis()
    a, b = make(fake), make(fake)
    loader, calls = counting({"id": "p1"})
    assert await a.get_or_load("posting", "p1", loader, BYTES) == {"id": "p1"}
    assert await b.get_or_load("posting", "p1", loader, BYTES) == {"id": "p1"}
    assert len(calls) == 1
    assert b.stats().l2_hits == 1
    assert fake.data["t:posting:p1"].startswith(b"v")


async def test_invalidation_evicts_l1_and_tombstones_l2() -> None:
    fake = FakeRedis()
    cache = make(fake)
    loader, calls = counting("v1")
    await cache.get_or_load("posting", "p1", loader, BYTES)
    cache.apply_invalidation(invalidation("p1"), offset=0)
    # Not read from L2 before the tombstone is written, even if Redis still has v1.
    new_loader, new_calls = counting("v2")
    assert await cache.get_or_load("posting", "p1", new_loader, BYTES) == "v2"
    await asyncio.sleep(0.01)  # the background tombstone writer
    assert fake.data["t:posting:p1"] in (b"x1", b'v"v2"')  # never v1 again
    assert new_calls == [1]
    assert calls == [1]


async def test_a_load_in_flight_during_an_invalidation_is_not_stored() -> None:
    """The race of invariant 6 (docs/architecture.md): the loader read v1 before the commit,
    the event arrives before it returns. Its callers get v1 (they asked before the change),
    nobody after."""
    fake = FakeRedis()
    cache = make(fake)
    release = asyncio.Event()

    async def slow_old() -> str:
        await release.wait()
        return "v1"

    waiter = asyncio.create_task(cache.get_or_load("posting", "p1", slow_old, BYTES))
    await asyncio.sleep(0.01)
    cache.apply_invalidation(invalidation("p1"), offset=7)
    # A caller after the event does not join the stale load.
    fresh, _ = counting("v2")
    assert await cache.get_or_load("posting", "p1", fresh, BYTES) == "v2"
    release.set()
    assert await waiter == "v1"
    await asyncio.sleep(0.01)
    # The load that began after the event (position 8) may refill over the tombstone x8.
    assert fake.data["t:posting:p1"] in (b"x8", b'v"v2"')
    again, again_calls = counting("v2")
    assert await cache.get_or_load("posting", "p1", again, BYTES) == "v2"
    assert again_calls == []  # v2 came from L1
    assert cache.stats().stale_loads == 1


async def test_a_stale_fill_from_another_instance_cannot_outlive_the_tombstone() -> None:
    """Instance B read v1 before the commit and writes it to L2 after A's eviction:
    NX refuses it. Had it landed first, the tombstone would have overwritten it."""
    fake = FakeRedis()
    a, b = make(fake), make(fake)
    release = asyncio.Event()

    async def slow_old() -> str:
        await release.wait()
        return "v1"

    late = asyncio.create_task(b.get_or_load("posting", "p1", slow_old, BYTES))
    await asyncio.sleep(0.01)
    await a.evict("posting", ["p1"])
    assert fake.data["t:posting:p1"][:1] == b"x"
    release.set()
    assert await late == "v1"
    await asyncio.sleep(0.01)
    assert fake.data["t:posting:p1"][:1] == b"x"


async def test_tombstones_let_fresh_loads_refill_and_never_move_back() -> None:
    fake = FakeRedis()
    ahead, behind = make(fake), make(fake)
    ahead.start_generation(10)
    behind.start_generation(10)
    ahead.apply_invalidation(invalidation("p1"), offset=10)
    ahead.apply_invalidation(invalidation("p1"), offset=11)  # p1 changed twice
    await asyncio.sleep(0.01)
    assert fake.data["t:posting:p1"] == b"x12"
    # The lagging instance applies the first event only: the tombstone stays at 12 ...
    behind.apply_invalidation(invalidation("p1"), offset=10)
    await asyncio.sleep(0.01)
    assert fake.data["t:posting:p1"] == b"x12"
    # ... and its load (it has not seen commit 12) may not fill L2.
    assert await behind.get_or_load("posting", "p1", counting("v2")[0], BYTES) == "v2"
    await asyncio.sleep(0.01)
    assert fake.data["t:posting:p1"] == b"x12"
    # The instance that applied both may: its database read saw both commits.
    assert await ahead.get_or_load("posting", "p1", counting("v3")[0], BYTES) == "v3"
    await asyncio.sleep(0.01)
    assert fake.data["t:posting:p1"] == b'v"v3"'


async def test_generation_moves_generational_keys_only() -> None:
    clock = Clock(2_000.0)
    cache = make(invalidation_coalesce_ms=0, wall_clock=clock)
    cache.start_generation(10)
    assert cache.generation == 10
    loader, calls = counting("page")
    await cache.get_or_load("search", "q", loader, BYTES, generational=True)
    await cache.get_or_load("embedding", "q", loader, BYTES)
    cache.apply_invalidation(invalidation("p9"), offset=10)
    assert cache.generation == 11
    await cache.get_or_load("search", "q", loader, BYTES, generational=True)
    await cache.get_or_load("embedding", "q", loader, BYTES)
    assert len(calls) == 3


# --- batches ---------------------------------------------------------------------------
async def test_get_many_uses_l1_one_mget_and_one_load_for_the_misses() -> None:
    fake = FakeRedis()
    cache = make(fake)
    other = make(fake)
    batches: list[list[str]] = []

    async def load_many(ids: list[str]) -> dict[str, str]:
        batches.append(ids)
        return {i: f"post-{i}" for i in ids if i != "gone"}

    await cache.get_or_load("posting", "p0", counting("post-p0")[0], BYTES)  # L1
    await asyncio.sleep(0.01)
    got = await cache.get_many_or_load(
        "posting", ["p0", "p1", "p2", "gone", "p1"], load_many, BYTES
    )
    assert got == {"p0": "post-p0", "p1": "post-p1", "p2": "post-p2"}
    assert batches == [["p1", "p2", "gone"]]
    await asyncio.sleep(0.01)
    assert "t:posting:gone" not in fake.data
    # Another instance: everything found in L2 by one MGET, nothing loaded.
    calls = fake.calls
    assert await other.get_many_or_load("posting", ["p1", "p2", "p0"], load_many, BYTES) == {
        "p1": "post-p1",
        "p2": "post-p2",
        "p0": "post-p0",
    }
    assert fake.calls == calls + 1
    assert len(batches) == 1
    assert other.stats().l2_hits == 3


async def test_get_many_shares_flights_and_respects_evictions() -> None:
    fake = FakeRedis()
    cache = make(fake)
    release = asyncio.Event()
    batches: list[list[str]] = []

    async def slow_old(ids: list[str]) -> dict[str, str]:
        batches.append(ids)
        await release.wait()
        return {i: "v1" for i in ids}

    first = asyncio.create_task(cache.get_many_or_load("posting", ["a", "b"], slow_old, BYTES))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(cache.get_many_or_load("posting", ["b"], slow_old, BYTES))
    await asyncio.sleep(0.01)
    cache.apply_invalidation(invalidation("a"), offset=0)
    release.set()
    assert await first == {"a": "v1", "b": "v1"}
    assert await second == {"b": "v1"}
    assert batches == [["a", "b"]]  # b was joined, not loaded twice
    await asyncio.sleep(0.01)
    assert fake.data["t:posting:a"][:1] == b"x"  # the stale a was not written
    assert fake.data["t:posting:b"] == b'v"v1"'
    fresh, fresh_calls = counting("v2")
    assert await cache.get_or_load("posting", "a", fresh, BYTES) == "v2"
    assert await cache.get_or_load("posting", "b", fresh, BYTES) == "v1"
    assert fresh_calls == [1]


async def test_get_many_loader_errors_reach_every_caller() -> None:
    cache = make()

    async def broken(ids: list[str]) -> dict[str, str]:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        await cache.get_many_or_load("posting", ["a", "b"], broken, BYTES)
    loader, _ = counting("ok")
    assert await cache.get_or_load("posting", "a", loader, BYTES) == "ok"


# --- generation coalescing ---------------------------------------------------------------
def test_generation_coalesces_to_bucket_boundaries() -> None:
    clock = Clock(1_000.000)
    gen = Generation(250, clock)
    gen.start_at(5)
    assert gen.visible == 5
    # A steady stream, one event every 50 ms, committed 10 ms before it is applied.
    changes = []
    last = gen.visible
    offset = 5
    for _ in range(40):  # 2 seconds
        clock.now += 0.05
        gen.observe(offset + 1, clock.now - 0.01)
        offset += 1
        if gen.visible != last:
            changes.append(clock.now)
            last = gen.visible
    assert 7 <= len(changes) <= 9  # ~ once per 250 ms bucket, not 40 times
    assert gen.pending == 45


def test_generation_freshness_bound_is_the_coalesce_window() -> None:
    clock = Clock(1_000.010)
    gen = Generation(250, clock)
    gen.start_at(1)
    gen.observe(2, committed_at=1_000.005)
    assert gen.visible == 1
    clock.now = 1_000.249
    assert gen.visible == 1
    clock.now = 1_000.2501
    assert gen.visible == 2  # 245 ms after the commit


def test_generation_late_events_are_visible_at_once_and_future_stamps_clamped() -> None:
    clock = Clock(1_000.0)
    gen = Generation(250, clock)
    gen.observe(3, committed_at=990.0)  # consumed late: its bucket is long over
    assert gen.visible == 3
    gen.observe(4, committed_at=5_000.0)  # a worker clock far ahead
    clock.now += 0.26
    assert gen.visible == 4


def test_generation_is_the_same_on_two_instances_at_the_same_time() -> None:
    clock = Clock(1_000.0)
    a, b = Generation(250, clock), Generation(250, clock)
    a.start_at(100)
    b.start_at(100)
    for i, stamp in enumerate((1_000.01, 1_000.1, 1_000.2, 1_000.3)):
        clock.now = stamp + 0.002
        a.observe(101 + i, stamp)
        clock.now = stamp + 0.009  # b consumes a few ms later
        b.observe(101 + i, stamp)
    for t in (1_000.31, 1_000.49, 1_000.51):
        clock.now = t
        assert a.visible == b.visible


def test_generation_without_coalescing_and_never_backwards() -> None:
    gen = Generation(0)
    gen.start_at(10)
    gen.observe(11, None)
    assert gen.visible == 11
    gen.observe(5, None)
    gen.start_at(3)
    assert gen.visible == 11


# --- Redis down: breaker -----------------------------------------------------------------
async def test_redis_outage_is_skipped_logged_once_and_recovers() -> None:
    fake = FakeRedis()
    cache = make(fake, breaker_open_s=0.05)
    loader, _ = counting("v")
    await cache.get_or_load("posting", "warm", loader, BYTES)
    fake.down = True
    with structlog.testing.capture_logs() as logs:
        for i in range(20):
            assert await cache.get_or_load("posting", f"k{i}", loader, BYTES) == "v"
        calls_during_outage = fake.calls
        for i in range(20, 40):
            await cache.get_or_load("posting", f"k{i}", loader, BYTES)
    assert not cache.redis_healthy
    assert fake.calls - calls_during_outage <= 1  # breaker open: Redis not asked again
    assert cache.stats().l2_errors >= 1
    assert [e["log_level"] for e in logs] == ["warning"]
    # Evictions during the outage are replayed before L2 is read again.
    cache.apply_invalidation(invalidation("warm"), offset=0)
    fake.down = False
    for _ in range(50):
        await asyncio.sleep(0.02)
        if cache.redis_healthy:
            break
    assert cache.redis_healthy
    assert fake.data["t:posting:warm"][:1] == b"x"
    loader2, calls2 = counting("v")
    cache.clear_l1()
    await cache.get_or_load("posting", "k0", loader2, BYTES)  # was not in L2 (down)
    await asyncio.sleep(0.01)
    cache.clear_l1()
    await cache.get_or_load("posting", "k0", loader2, BYTES)
    assert calls2 == [1]
    assert cache.stats().l2_hits == 1


async def test_timeouts_bound_latency_of_a_hanging_redis() -> None:
    class Hanging(FakeRedis):
        async def get(self, key: str) -> bytes | None:
            await asyncio.sleep(10)
            return None

    cache = TieredCache(settings(), cast(Redis, Hanging()), redis_timeout_s=0.05)
    loader, _ = counting("v")
    start = time.perf_counter()
    assert await cache.get_or_load("posting", "a", loader, BYTES) == "v"
    assert time.perf_counter() - start < 0.5
    assert not cache.redis_healthy
    await cache.aclose()


# --- codecs, keys, metrics ----------------------------------------------------------------
def test_json_codec_round_trip() -> None:
    codec: JsonCodec[tuple[str, int]] = JsonCodec(lambda v: list(v), lambda d: (d[0], d[1]))
    data = codec.dumps(("Zürich ✓", 3))
    assert b"\\u" not in data
    assert codec.loads(data) == ("Zürich ✓", 3)
    with pytest.raises(CodecError):
        codec.loads(b"\xff{")


def test_numpy_codec_round_trip() -> None:
    codec = NumpyCodec()
    vector = np.linspace(-1, 1, 384, dtype=np.float32)
    data = codec.dumps(vector)
    assert len(data) < 384 * 4 + 16
    back = codec.loads(data)
    assert back.dtype == np.float32
    assert np.array_equal(back, vector)
    assert not back.flags.writeable
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(codec.loads(codec.dumps(matrix)), matrix)
    with pytest.raises(CodecError):
        codec.loads(b"F4\x01\x03\x00\x00\x00" + b"\x00" * 8)
    with pytest.raises(CodecError):
        codec.loads(b'{"json": 1}')


async def test_undecodable_l2_entry_is_a_miss_and_replaced() -> None:
    fake = FakeRedis()
    fake.data["t:embedding:q"] = b"vgarbage"
    cache = make(fake)
    loader, calls = counting(np.ones(4, dtype=np.float32))
    vector: npt.NDArray[np.float32] = await cache.get_or_load(
        "embedding", "q", loader, NumpyCodec()
    )
    assert np.array_equal(vector, [1] * 4)
    await asyncio.sleep(0.01)
    assert calls == [1]
    assert fake.data["t:embedding:q"].startswith(b"vF4")


async def test_long_keys_are_hashed_and_kinds_checked() -> None:
    fake = FakeRedis()
    cache = make(fake)
    loader, _ = counting("v")
    await cache.get_or_load("search", "x" * 1000, loader, BYTES, generational=True)
    await cache.get_or_load("search", "a\x1fb", loader, BYTES, generational=True)
    assert all(len(k) < 80 for k in fake.data)
    with pytest.raises(ValueError, match="kind"):
        await cache.get_or_load("bad:kind", "k", loader, BYTES)


async def test_prometheus_counters_per_registry() -> None:
    r1, r2 = CollectorRegistry(), CollectorRegistry()
    a = TieredCache(settings(), None, registry=r1)
    b = TieredCache(settings(), None, registry=r2)
    loader, _ = counting("v")
    await a.get_or_load("posting", "p", loader, BYTES)
    await a.get_or_load("posting", "p", loader, BYTES)
    await b.get_or_load("search", "q", loader, BYTES)
    text = generate_latest(r1).decode()
    assert 'jobstream_cache_hits_total{kind="posting",level="l1"} 1.0' in text
    assert 'jobstream_cache_misses_total{kind="posting",level="l1"} 1.0' in text
    assert 'jobstream_cache_loads_total{kind="posting"} 1.0' in text
    assert "jobstream_cache_redis_healthy 0.0" in text
    assert 'kind="search"' in generate_latest(r2).decode()
    stats = a.stats()
    assert stats.hit_rate == 0.5
    assert stats.by_kind["posting"].l1_hits == 1


def test_freshness_counts_each_invalidation_once_for_the_path_that_applied_it_first() -> None:
    """The outbox watch and the log may both apply an event: the first counts, with the
    seconds since its commit (0 when the sink's clock is ahead)."""
    from api.cache.stats import Freshness
    from api.metrics import ApiMetrics

    metrics = ApiMetrics()
    freshness = Freshness(metrics.freshness, remember=2)
    late = events_pb2.Invalidation(source="w1")
    late.committed_at.FromNanoseconds(1_000_000_000_000)
    freshness.observe("outbox", late, 1000.4)
    freshness.observe("kafka", late, 1003.0)  # Kafka took it late: evicted already
    ahead = events_pb2.Invalidation(source="w2")
    ahead.committed_at.FromNanoseconds(1_000_500_000_000)
    freshness.observe("kafka", ahead, 1000.2)
    freshness.observe("kafka", events_pb2.Invalidation(source="w3"), 1000.0)  # no commit time

    def sample(name: str, path: str) -> float | None:
        return metrics.registry.get_sample_value(
            f"jobstream_api_freshness_seconds_{name}", {"path": path}
        )

    assert (sample("count", "outbox"), sample("sum", "outbox")) == (1, pytest.approx(0.4))
    assert (sample("count", "kafka"), sample("sum", "kafka")) == (1, 0)
    other = events_pb2.Invalidation(source="w4")
    other.committed_at.FromNanoseconds(999_000_000_000)
    freshness.observe("kafka", other, 1000.0)  # remembers 2: the first is forgotten
    freshness.observe("kafka", late, 1001.0)
    assert sample("count", "kafka") == 3
