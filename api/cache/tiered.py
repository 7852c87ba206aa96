"""Two-level cache: L1 in-process (bounded LRU + TTL) ▸ L2 Redis ▸ the loader (PostgreSQL).

Why it is safe to cache postings that change (invariant 6 in docs/architecture.md: no
instance serves an older version more than 1 s after the commit):

- Every API instance consumes every Invalidation (see :mod:`api.cache.listener`) and
  evicts the named postings from its L1 at once and from L2 by writing a short-lived
  *tombstone* stamped with the event's log position ``P`` (offset + 1) -- not a DEL.
- Every L2 fill carries the log position its instance had applied *before* the load
  started (``S``) and goes through a Lua script: it may replace a tombstone only when
  ``S >= P`` (that instance had applied the event, so its database read saw the commit),
  and never replaces a value. A stale fill -- a load that read the database before the
  commit -- either lands before the tombstone (and is overwritten by it) or after it
  (and is refused). Plain DEL could not give that: a fill racing on another connection
  could land after the DEL and live for ``l2_ttl_s``. Tombstones only move forward
  (a lagging instance never replaces ``P2`` by an older ``P``), and a fresh load may
  refill L2 at once, so a just-changed posting is not kept out of L2. Tombstones live
  ``tombstone_s`` (10 s): an instance lagging more than that behind the log could refill
  an old value, until it applies the event itself and evicts again -- such an instance
  breaks the 1 s bound on its own anyway, and its listener ``status()`` shows the lag.
  Manual :meth:`evict` stamps one past the current position (conservative).
- Locally, an eviction marks the key's in-flight load *stale*: its result is returned to
  the callers that were already waiting (their request began before the event) but is
  stored in neither L1 nor L2, and callers arriving after the eviction start a new load.
- A key whose L2 eviction has not reached Redis yet (Redis slow or down) is not read from
  L2 by this instance; the eviction is retried, and replayed before L2 is used again after
  an outage, so a Redis that comes back (with AOF) cannot resurrect an old posting.

Generational kinds (search pages, facets, counts) need no eviction: their keys carry the
data generation (:mod:`api.cache.generation`) captured *before* the load, so a result is
never filed under a generation newer than the data it was computed from.

Not cached: ``None`` results and loader exceptions (no negative caching). An absent
posting costs one primary-key lookup per request; a negative entry would be safe to add
(creates are announced by invalidations too), but nothing needs it yet.

Redis trouble never fails a request: each call has a short timeout, the first failure
opens a breaker (L2 skipped, ``redis_healthy`` False, one warning per outage), and a
background task probes every ``breaker_open_s`` until Redis answers, then closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import structlog
from cachetools import TTLCache
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from api.cache.codecs import Codec
from api.cache.generation import Generation
from api.cache.stats import CacheCollector, CacheStats, KindCounters, summarise
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings

T = TypeVar("T")
log = structlog.get_logger("api.cache")

POSTING = "posting"
VALUE_PREFIX = b"v"
TOMBSTONE = b"x"  # + the log position of the eviction, e.g. b"x1042"

# KEYS[1]; ARGV: payload, ttl ms, log position before the load, overwrite-a-value flag.
FILL_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local tag = string.sub(cur, 1, 1)
  if tag == 'x' then
    if (tonumber(string.sub(cur, 2)) or 0) > tonumber(ARGV[3]) then return 0 end
  elseif tag == 'v' and ARGV[4] ~= '1' then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS[1]; ARGV: log position of the eviction, ttl ms. Never moves a tombstone backwards.
TOMBSTONE_LUA = """
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, 1) == 'x'
   and (tonumber(string.sub(cur, 2)) or 0) > tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], 'x' .. ARGV[1], 'PX', ARGV[2])
return 1
"""
_MISSING: Any = object()
_ABSENT: Any = object()  # a batch load did not return this key
_KIND = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


@dataclass(eq=False)
class _Flight:
    """One load in progress; every caller of the same key awaits ``future``."""

    future: asyncio.Future[Any]
    stale: bool = False


@dataclass
class _Pending:
    """L2 evictions not yet confirmed: full key -> (kind, eviction number, log position)."""

    keys: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    purge_kinds: set[str] = field(default_factory=set)
    counter: int = 0

    def __bool__(self) -> bool:
        return bool(self.keys or self.purge_kinds)


class TieredCache:
    """L1 ▸ L2 ▸ loader, with single-flight loads and event-driven eviction.

    Values in L1 are shared objects: callers must treat what they get as immutable.
    """

    def __init__(
        self,
        settings: Settings,
        redis: Redis | None,
        *,
        namespace: str = "jobstream",
        registry: CollectorRegistry | None = None,
        redis_timeout_s: float = 0.2,
        breaker_open_s: float = 2.0,
        tombstone_s: float = 10.0,
        max_pending_evictions: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._ns = namespace
        self._timeout_s = redis_timeout_s
        self._breaker_open_s = breaker_open_s
        self._tombstone_ms = max(1, int(tombstone_s * 1000))
        self._l2_ttl_ms = max(1, int(settings.l2_ttl_s * 1000))
        self._max_pending = max_pending_evictions
        self._clock = clock
        self._l1: TTLCache[str, Any] | None = (
            TTLCache(settings.l1_max_entries, settings.l1_ttl_s, timer=clock)
            if settings.l1_max_entries > 0
            else None
        )
        self._generation = Generation(settings.invalidation_coalesce_ms, wall_clock)
        self._flights: dict[str, _Flight] = {}
        self._kinds: dict[str, KindCounters] = {}
        self._pending = _Pending()
        self._healthy = True
        self._down_since: float | None = None
        self._l2_errors = 0
        self._last_l2_error: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        if registry is not None:
            registry.register(CacheCollector(self.stats))

    # --- public interface -----------------------------------------------------------
    @property
    def generation(self) -> int:
        """The data generation generational keys use now (coalesced log position)."""
        return self._generation.visible

    @property
    def log_position(self) -> int:
        """The newest invalidation-log position applied (evictions done up to here)."""
        return self._generation.pending

    @property
    def redis_healthy(self) -> bool:
        """True while L2 is in use; False without Redis or while the breaker is open."""
        return self._redis is not None and self._healthy

    def start_generation(self, position: int) -> None:
        """The listener joined the log at ``position`` (its end): the generation starts there."""
        self._generation.start_at(position)

    async def get_or_load(
        self,
        kind: str,
        key: str,
        loader: Callable[[], Awaitable[T]],
        codec: Codec[T],
        *,
        generational: bool = False,
    ) -> T:
        """The cached value, else L2's, else ``loader()``'s (one load per key at a time).

        ``generational`` puts the current data generation in the key: use it for
        results computed over many postings (search pages, facets, counts), not for
        postings by id (evicted by id) or values that never go stale (embeddings).
        """
        counters = self._counters(kind)
        gen = self._generation.visible if generational else None
        full = self._full_key(kind, key, gen)
        if self._l1 is not None:
            value = self._l1.get(full, _MISSING)
            if value is not _MISSING:
                counters.l1_hits += 1
                return cast(T, value)
        counters.l1_misses += 1
        flight = self._flights.get(full)
        if flight is None:
            flight = self._new_flight(full)
            self._spawn(self._fill(kind, full, loader, codec, flight))
        self._ensure_worker()
        value = await asyncio.shield(flight.future)
        if value is _ABSENT:  # joined a batch load that found nothing: ask our own loader
            return await loader()
        return cast(T, value)

    async def get_many_or_load(
        self,
        kind: str,
        keys: Iterable[str],
        loader: Callable[[list[str]], Awaitable[Mapping[str, T]]],
        codec: Codec[T],
    ) -> dict[str, T]:
        """Values of many non-generational keys: L1, then one MGET, then one
        ``loader(missing_keys)`` call, which returns the values it found by key.

        Keys the loader does not return are left out of the result and not cached (a
        page of postings whose ids include a deleted one). Same single-flight and
        eviction guards as :meth:`get_or_load`: a key already loading is awaited, not
        loaded twice.
        """
        counters = self._counters(kind)
        result: dict[str, T] = {}
        waits: dict[str, asyncio.Future[Any]] = {}
        mine: dict[str, tuple[str, _Flight]] = {}
        for key in dict.fromkeys(keys):
            full = self._full_key(kind, key, None)
            if self._l1 is not None:
                value = self._l1.get(full, _MISSING)
                if value is not _MISSING:
                    counters.l1_hits += 1
                    result[key] = value
                    continue
            counters.l1_misses += 1
            flight = self._flights.get(full)
            if flight is None:
                flight = self._new_flight(full)
                mine[key] = (full, flight)
            waits[key] = flight.future
        if mine:
            self._spawn(self._fill_many(kind, mine, loader, codec))
        self._ensure_worker()
        if waits:
            values = await asyncio.shield(asyncio.gather(*waits.values()))
            for key, value in zip(waits, values, strict=True):
                if value is not _ABSENT and value is not None:
                    result[key] = value
        return result

    def _new_flight(self, full: str) -> _Flight:
        """Register the load of ``full`` that callers asking meanwhile will await."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        flight = _Flight(future)
        self._flights[full] = flight
        return flight

    async def evict(self, kind: str, keys: Iterable[str], *, generational: bool = False) -> None:
        """Drop keys from L1 and L2 (tombstones); for ``generational``, the current generation's."""
        gen = self._generation.visible if generational else None
        self._evict_local(kind, keys, gen, self._generation.pending + 1)
        if self._pending and self.redis_healthy:
            try:
                await self._deliver()
            except Exception as exc:
                self._l2_failed(exc)
        self._ensure_worker()

    def apply_invalidation(self, event: events_pb2.Invalidation, offset: int) -> None:
        """Apply one event read at ``offset``: evict its postings now, then move the generation.

        L1 and in-flight loads are handled synchronously; the L2 tombstones are written
        by a background task (until then this instance does not read those keys from L2).
        """
        if event.flush_all:
            self._flush_local()
        self._evict_local(POSTING, (p.id for p in event.postings), None, offset + 1)
        committed_at: float | None = None
        if event.HasField("committed_at"):
            committed_at = event.committed_at.seconds + event.committed_at.nanos / 1e9
        self._generation.observe(offset + 1, committed_at)
        self._ensure_worker()

    def _flush_local(self) -> None:
        """A flush-all event (``jobstream rebuild`` swapped the read model): every cached
        posting is suspect. L1 and in-flight loads go now; L2's postings are purged (and
        not read meanwhile). Every instance purges when it applies the event, after
        marking its own loads stale, so a pre-swap fill cannot outlive the last purge."""
        if self._l1 is not None:
            self._l1.clear()
        for flight in self._flights.values():
            flight.stale = True
        self._flights.clear()
        if self._redis is not None:
            self._pending.purge_kinds.add(POSTING)

    def clear_l1(self) -> int:
        """Drop every L1 entry (L2 and the generation stay); returns how many there were."""
        if self._l1 is None:
            return 0
        count = len(self._l1)
        self._l1.clear()
        return count

    def stats(self) -> CacheStats:
        l1_entries = 0
        if self._l1 is not None:
            self._l1.expire()
            l1_entries = len(self._l1)
        return summarise(
            self._kinds,
            l2_errors=self._l2_errors,
            l1_entries=l1_entries,
            generation=self._generation.visible,
            redis_healthy=self.redis_healthy,
        )

    async def aclose(self) -> None:
        """Stop background work (tombstones, probes, fills); the Redis client is the caller's."""
        tasks = [t for t in (self._worker, *self._tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # --- loading --------------------------------------------------------------------
    async def _fill(
        self,
        kind: str,
        full: str,
        loader: Callable[[], Awaitable[T]],
        codec: Codec[T],
        flight: _Flight,
    ) -> None:
        counters = self._counters(kind)
        start = self._generation.pending  # before any read: what our load can have missed
        try:
            write_l2 = self._l2_usable(kind, full)
            overwrite = False
            if write_l2:
                raw = await self._l2_get(full)
                if raw is not None and raw[:1] == TOMBSTONE:
                    pass  # evicted recently: the fill script decides whether we may refill
                elif raw is not None and raw[:1] == VALUE_PREFIX:
                    try:
                        value = codec.loads(raw[1:])
                    except Exception as exc:
                        log.warning("undecodable L2 entry; reloading", key=full, error=repr(exc))
                        overwrite = True
                    else:
                        counters.l2_hits += 1
                        self._settle(kind, full, flight, value)
                        return
                elif raw is not None:
                    overwrite = True
            counters.l2_misses += 1
            try:
                value = await loader()
            except Exception as exc:
                counters.load_errors += 1
                self._drop_flight(full, flight)
                if not flight.future.done():
                    flight.future.set_exception(exc)
                return
            counters.loads += 1
            stored = self._settle(kind, full, flight, value)
            if stored and write_l2 and self.redis_healthy:
                try:
                    payload = VALUE_PREFIX + codec.dumps(value)
                except Exception as exc:
                    log.warning("value not encodable for L2", key=full, error=repr(exc))
                    return
                await self._l2_set(full, payload, start=start, overwrite=overwrite)
        except asyncio.CancelledError:
            self._drop_flight(full, flight)
            flight.future.cancel()
            raise
        except Exception as exc:  # a bug here must not hang the waiters
            self._drop_flight(full, flight)
            if not flight.future.done():
                flight.future.set_exception(exc)

    async def _fill_many(
        self,
        kind: str,
        flights: dict[str, tuple[str, _Flight]],
        loader: Callable[[list[str]], Awaitable[Mapping[str, T]]],
        codec: Codec[T],
    ) -> None:
        counters = self._counters(kind)
        start = self._generation.pending
        todo = dict(flights)
        try:
            readable = [k for k, (full, _) in todo.items() if self._l2_usable(kind, full)]
            if readable:
                raws = await self._l2_mget([todo[k][0] for k in readable])
                for key, raw in zip(readable, raws, strict=True):
                    if raw is not None and raw[:1] == VALUE_PREFIX:
                        try:
                            value = codec.loads(raw[1:])
                        except Exception:
                            continue
                        counters.l2_hits += 1
                        full, flight = todo.pop(key)
                        self._settle(kind, full, flight, value)
            if not todo:
                return
            counters.l2_misses += len(todo)
            try:
                found = await loader(list(todo))
            except Exception as exc:
                counters.load_errors += 1
                for full, flight in todo.values():
                    self._drop_flight(full, flight)
                    if not flight.future.done():
                        flight.future.set_exception(exc)
                return
            counters.loads += 1
            writes: list[tuple[str, bytes]] = []
            for key, (full, flight) in list(todo.items()):
                del todo[key]
                value = found.get(key, _ABSENT)
                if value is _ABSENT or value is None:
                    self._drop_flight(full, flight)
                    if not flight.future.done():
                        flight.future.set_result(_ABSENT)
                    continue
                if self._settle(kind, full, flight, value):
                    try:
                        writes.append((full, VALUE_PREFIX + codec.dumps(value)))
                    except Exception as exc:
                        log.warning("value not encodable for L2", key=full, error=repr(exc))
            if writes and self.redis_healthy:
                await self._l2_set_many(writes, start=start)
        except asyncio.CancelledError:
            for full, flight in todo.values():
                self._drop_flight(full, flight)
                flight.future.cancel()
            raise
        except Exception as exc:
            for full, flight in todo.values():
                self._drop_flight(full, flight)
                if not flight.future.done():
                    flight.future.set_exception(exc)

    def _settle(self, kind: str, full: str, flight: _Flight, value: Any) -> bool:
        """Hand the value to the waiters; store it in L1 unless evicted meanwhile.

        Returns whether it may be stored in L2 too.
        """
        self._drop_flight(full, flight)
        store = not flight.stale and value is not None
        if flight.stale:
            self._counters(kind).stale_loads += 1
        if store and self._l1 is not None:
            self._l1[full] = value
        if not flight.future.done():
            flight.future.set_result(value)
        return store

    def _drop_flight(self, full: str, flight: _Flight) -> None:
        if self._flights.get(full) is flight:
            del self._flights[full]

    # --- eviction -------------------------------------------------------------------
    def _evict_local(self, kind: str, keys: Iterable[str], gen: int | None, position: int) -> None:
        pending = self._pending
        for key in keys:
            full = self._full_key(kind, key, gen)
            if self._l1 is not None:
                self._l1.pop(full, None)
            flight = self._flights.pop(full, None)
            if flight is not None:
                flight.stale = True
            if self._redis is not None:
                pending.counter += 1
                pending.keys[full] = (kind, pending.counter, position)
        if len(pending.keys) > self._max_pending:
            # A long outage under heavy ingest: stop tracking keys, purge the kinds instead.
            pending.purge_kinds.update(entry[0] for entry in pending.keys.values())
            pending.keys.clear()
            log.warning(
                "too many L2 evictions pending; will purge", kinds=sorted(pending.purge_kinds)
            )

    async def _deliver(self) -> None:
        """Write the pending tombstones (and purges) to Redis; raises on failure."""
        assert self._redis is not None
        pending = self._pending
        while pending.keys:
            batch = list(itertools.islice(pending.keys.items(), 500))
            async with asyncio.timeout(self._timeout_s * 5):
                pipe = self._redis.pipeline(transaction=False)
                for full, (_, _, position) in batch:
                    pipe.eval(TOMBSTONE_LUA, 1, full, position, self._tombstone_ms)
                await pipe.execute()
            for full, entry in batch:
                if pending.keys.get(full) == entry:  # not evicted again meanwhile
                    del pending.keys[full]
        for kind in sorted(pending.purge_kinds):
            await self._purge(kind)
            pending.purge_kinds.discard(kind)

    async def _purge(self, kind: str) -> None:
        """Delete every non-generational key of ``kind`` in our namespace (SCAN + UNLINK)."""
        assert self._redis is not None
        pattern = _GLOB_SPECIAL.sub(r"\\\1", f"{self._ns}:{kind}:") + "*"
        cursor: int = 0
        while True:
            async with asyncio.timeout(self._timeout_s * 5):
                cursor, keys = await self._redis.scan(cursor, match=pattern, count=1000)
                if keys:
                    await self._redis.unlink(*keys)
            if cursor == 0:
                return

    # --- L2 and its breaker ---------------------------------------------------------
    def _l2_usable(self, kind: str, full: str) -> bool:
        return (
            self._redis is not None
            and self._healthy
            and full not in self._pending.keys
            and kind not in self._pending.purge_kinds
        )

    async def _l2_get(self, full: str) -> bytes | None:
        assert self._redis is not None
        try:
            async with asyncio.timeout(self._timeout_s):
                raw = await self._redis.get(full)
        except Exception as exc:
            self._l2_failed(exc)
            return None
        return _as_bytes(raw)

    async def _l2_mget(self, fulls: list[str]) -> list[bytes | None]:
        assert self._redis is not None
        try:
            async with asyncio.timeout(self._timeout_s):
                raws = await self._redis.mget(fulls)
        except Exception as exc:
            self._l2_failed(exc)
            return [None] * len(fulls)
        return [_as_bytes(r) for r in raws]

    async def _l2_set_many(self, writes: list[tuple[str, bytes]], *, start: int) -> None:
        assert self._redis is not None
        try:
            async with asyncio.timeout(self._timeout_s):
                pipe = self._redis.pipeline(transaction=False)
                for full, payload in writes:
                    pipe.eval(FILL_LUA, 1, full, payload, self._l2_ttl_ms, start, 0)
                await pipe.execute()
        except Exception as exc:
            self._l2_failed(exc)

    async def _l2_set(self, full: str, payload: bytes, *, start: int, overwrite: bool) -> None:
        """Fill L2 unless a value is there or a tombstone newer than ``start`` (FILL_LUA)."""
        assert self._redis is not None
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._redis.eval(
                    FILL_LUA, 1, full, payload, self._l2_ttl_ms, start, int(overwrite)
                )
        except Exception as exc:
            self._l2_failed(exc)

    def _l2_failed(self, exc: BaseException) -> None:
        """Count the error; on the first one of an outage, open the breaker and log once."""
        self._l2_errors += 1
        self._last_l2_error = f"{type(exc).__name__}: {exc}"[:300]
        if self._healthy:
            self._healthy = False
            self._down_since = self._clock()
            log.warning(
                "redis unavailable: serving from L1 and the database, probing every "
                f"{self._breaker_open_s:g}s",
                error=self._last_l2_error,
            )
        self._ensure_worker()

    def _ensure_worker(self) -> None:
        """Run the background task when there is L2 work: tombstones to write, or a probe."""
        if self._redis is None or (self._healthy and not self._pending):
            return
        if self._worker is not None and not self._worker.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop: the next async call starts it
            return
        self._worker = loop.create_task(self._maintain_l2(), name="cache-l2-maintenance")

    async def _maintain_l2(self) -> None:
        assert self._redis is not None
        while True:
            if not self._healthy:
                await asyncio.sleep(self._breaker_open_s)
                try:
                    async with asyncio.timeout(self._timeout_s):
                        await self._redis.ping()
                    await self._deliver()  # replay evictions before anyone reads L2 again
                except Exception as exc:
                    self._l2_errors += 1
                    self._last_l2_error = f"{type(exc).__name__}: {exc}"[:300]
                    continue
                outage = None if self._down_since is None else self._clock() - self._down_since
                self._healthy = True
                self._down_since = None
                log.info("redis available again: L2 back in use", outage_s=outage)
                continue
            if not self._pending:
                return
            try:
                await self._deliver()
            except Exception as exc:
                self._l2_failed(exc)

    # --- helpers --------------------------------------------------------------------
    def _counters(self, kind: str) -> KindCounters:
        counters = self._kinds.get(kind)
        if counters is None:
            if not _KIND.match(kind):
                raise ValueError(f"cache kind must match {_KIND.pattern}, got {kind!r}")
            counters = self._kinds[kind] = KindCounters()
        return counters

    def _full_key(self, kind: str, key: str, gen: int | None) -> str:
        """``ns:kind:key`` or ``ns:kind@gen:key``; long or odd keys are hashed."""
        if len(key) > 128 or key.startswith("#") or not key.isprintable():
            key = "#" + hashlib.blake2b(key.encode(), digest_size=20).hexdigest()
        scope = kind if gen is None else f"{kind}@{gen}"
        return f"{self._ns}:{scope}:{key}"

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _as_bytes(raw: bytes | str | None) -> bytes | None:
    if raw is None:
        return None
    return raw.encode() if isinstance(raw, str) else bytes(raw)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a shared load's exception as seen even when every waiter has gone away."""
    if not future.cancelled():
        future.exception()
