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

L2 itself -- the Redis client, its timeouts and circuit breaker, the tagged entries and the
fill and tombstone scripts -- is :mod:`api.cache.l2`; this module keeps the tiering: L1,
single-flight loads, eviction of L1 and of loads in flight, the data generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from cachetools import TTLCache
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from api.cache.codecs import Codec
from api.cache.generation import Generation
from api.cache.l2 import L2
from api.cache.stats import CacheCollector, CacheStats, KindCounters, commit_time, summarise
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings

T = TypeVar("T")

POSTING = "posting"
_MISSING: Any = object()
_ABSENT: Any = object()  # a batch load did not return this key
_KIND = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(eq=False)
class _Flight:
    """One load in progress; every caller of the same key awaits ``future``."""

    future: asyncio.Future[Any]
    stale: bool = False
    waiters: int = 0
    load: _Load | None = None


@dataclass(eq=False)
class _Load:
    """The task settling some flights (full key -> flight); cancelled once none of them
    has a waiter left, so a request that went away (timeout, client gone) stops its
    database work instead of finishing it for nobody."""

    task: asyncio.Task[None]
    flights: dict[str, _Flight]


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
        self._ns = namespace
        self._l2 = (
            None
            if redis is None
            else L2(
                redis,
                namespace=namespace,
                ttl_s=settings.l2_ttl_s,
                timeout_s=redis_timeout_s,
                breaker_open_s=breaker_open_s,
                tombstone_s=tombstone_s,
                max_pending_evictions=max_pending_evictions,
                clock=clock,
            )
        )
        self._l1: TTLCache[str, Any] | None = (
            TTLCache(settings.l1_max_entries, settings.l1_ttl_s, timer=clock)
            if settings.l1_max_entries > 0
            else None
        )
        self._generation = Generation(settings.invalidation_coalesce_ms, wall_clock)
        self._flights: dict[str, _Flight] = {}
        self._kinds: dict[str, KindCounters] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._l2_vouched = True
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
        return self._l2 is not None and self._l2.healthy

    def start_generation(self, position: int) -> None:
        """The listener joined the log at ``position``: the generation starts there."""
        self._generation.start_at(position)

    # --- vouching for L2 across restarts (see api.cache.listener) --------------------
    def hold_l2(self) -> None:
        """Neither read nor fill L2 until :meth:`release_l2`: what it holds may predate
        events this instance has not applied yet (L1 and the loader serve meanwhile)."""
        self._l2_vouched = False

    def release_l2(self) -> None:
        """This instance has applied the log up to where L2 is valid: use L2 again."""
        self._l2_vouched = True

    @property
    def l2_vouched(self) -> bool:
        return self._l2_vouched

    async def l2_valid_at(self, topic: str) -> dict[int, int] | None:
        """The invalidation-log position L2 is valid at (None: unknown, or no L2)."""
        return None if self._l2 is None else await self._l2.valid_at(topic)

    async def record_l2_valid_at(self, topic: str, positions: dict[int, int]) -> bool:
        """Record that L2 holds every eviction up to ``positions`` (once they are written)."""
        return self._l2 is not None and await self._l2.record_valid_at(topic, positions)

    def drop_l2_postings(self) -> None:
        """Nobody can vouch for L2's postings (no valid-at, or the log moved on past its
        retention): purge them before they are read. Generational kinds need no purge:
        their keys carry the position they were computed at, and this instance joins at
        the log's end, a position only instances that applied every event reach."""
        if self._l2 is not None:
            self._l2.purge(POSTING)

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

            async def load_one(_: list[str]) -> dict[str, T]:
                return {key: await loader()}

            self._start(self._fill(kind, {key: (full, flight)}, load_one, codec), {full: flight})
        self._ensure_worker()
        value = await self._wait([flight], flight.future)
        if value is _ABSENT:  # joined a batch load that found nothing: ask our own loader
            return await loader()
        return cast(T, value)

    async def get_many_or_load(
        self,
        kind: str,
        keys: Iterable[str],
        loader: Callable[[list[str]], Awaitable[Mapping[str, T]]],
        codec: Codec[T],
        *,
        generational: bool = False,
    ) -> dict[str, T]:
        """Values of many keys: L1, then one MGET, then one ``loader(missing_keys)`` call,
        which returns the values it found by key (``generational`` as in
        :meth:`get_or_load`: one data generation for all of them).

        Keys the loader does not return are left out of the result and not cached (a
        page of postings whose ids include a deleted one). Same single-flight and
        eviction guards as :meth:`get_or_load`: a key already loading is awaited, not
        loaded twice.
        """
        counters = self._counters(kind)
        result: dict[str, T] = {}
        waits: dict[str, asyncio.Future[Any]] = {}
        joined: list[_Flight] = []
        mine: dict[str, tuple[str, _Flight]] = {}
        gen = self._generation.visible if generational else None
        for key in dict.fromkeys(keys):
            full = self._full_key(kind, key, gen)
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
            joined.append(flight)
        if mine:
            self._start(self._fill(kind, mine, loader, codec), dict(mine.values()))
        self._ensure_worker()
        if waits:
            values = await self._wait(joined, asyncio.gather(*waits.values()))
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
        if self._l2 is not None:
            await self._l2.deliver_now()

    def apply_invalidation(self, event: events_pb2.Invalidation, offset: int) -> None:
        """Apply one event read at ``offset``: evict its postings now, then move the generation.

        L1 and in-flight loads are handled synchronously; the L2 tombstones are written
        by a background task (until then this instance does not read those keys from L2).
        """
        if event.flush_all:
            self._flush_local()
        self._evict_local(POSTING, (p.id for p in event.postings), None, offset + 1)
        self._generation.observe(offset + 1, commit_time(event))
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
        if self._l2 is not None:
            self._l2.purge(POSTING)

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
            l2_errors=0 if self._l2 is None else self._l2.errors,
            l1_entries=l1_entries,
            generation=self._generation.visible,
            redis_healthy=self.redis_healthy,
        )

    async def aclose(self) -> None:
        """Stop background work (tombstones, probes, fills); the Redis client is the caller's."""
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self._l2 is not None:
            await self._l2.aclose()

    # --- loading --------------------------------------------------------------------
    async def _fill(
        self,
        kind: str,
        flights: dict[str, tuple[str, _Flight]],
        loader: Callable[[list[str]], Awaitable[Mapping[str, T]]],
        codec: Codec[T],
    ) -> None:
        """Settle ``flights`` (key -> full key, flight) from L2, else from one load.

        The one read path of both :meth:`get_or_load` (a single key) and
        :meth:`get_many_or_load`, so L2 hits, repairs and fills work alike for both.
        """
        counters = self._counters(kind)
        start = self._generation.pending  # before any read: what our load can have missed
        todo = dict(flights)
        try:
            l2 = self._l2
            readable = (
                []
                if l2 is None or not self._l2_vouched
                else [f for f, _ in todo.values() if l2.usable(kind, f)]
            )
            repair: set[str] = set()
            if l2 is not None and readable:
                found, repair = await l2.read(readable, codec)
                for key, (full, flight) in list(todo.items()):
                    if full in found:
                        counters.l2_hits += 1
                        del todo[key]
                        self._settle(kind, full, flight, found[full])
            if not todo:
                return
            counters.l2_misses += len(todo)
            try:
                loaded = await loader(list(todo))
            except Exception as exc:
                counters.load_errors += 1
                self._fail(todo, exc)
                return
            counters.loads += 1
            writes: dict[str, T] = {}
            for key, (full, flight) in list(todo.items()):
                del todo[key]
                value = loaded.get(key, _ABSENT)
                if value is _ABSENT:
                    self._drop_flight(full, flight)
                    if not flight.future.done():
                        flight.future.set_result(_ABSENT)
                elif self._settle(kind, full, flight, value) and full in readable:
                    writes[full] = value
            if l2 is not None and writes:
                await l2.fill(writes, codec, start=start, repair=repair)
        except asyncio.CancelledError:
            for full, flight in todo.values():
                self._drop_flight(full, flight)
                flight.future.cancel()
            raise
        except Exception as exc:  # a bug here must not hang the waiters
            self._fail(todo, exc)

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

    def _fail(self, flights: Mapping[str, tuple[str, _Flight]], exc: Exception) -> None:
        """Hand a failed load's exception to every waiter of ``flights``."""
        for full, flight in flights.values():
            self._drop_flight(full, flight)
            if not flight.future.done():
                flight.future.set_exception(exc)

    def _drop_flight(self, full: str, flight: _Flight) -> None:
        if self._flights.get(full) is flight:
            del self._flights[full]

    # --- eviction -------------------------------------------------------------------
    def _evict_local(self, kind: str, keys: Iterable[str], gen: int | None, position: int) -> None:
        """Drop the keys from L1, mark their loads stale, queue their L2 tombstones."""
        fulls = [self._full_key(kind, key, gen) for key in keys]
        for full in fulls:
            if self._l1 is not None:
                self._l1.pop(full, None)
            flight = self._flights.pop(full, None)
            if flight is not None:
                flight.stale = True
        if self._l2 is not None:
            self._l2.evict(kind, fulls, position)

    def _ensure_worker(self) -> None:
        if self._l2 is not None:
            self._l2.ensure_worker()

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

    def _start(self, coro: Awaitable[None], flights: dict[str, _Flight]) -> None:
        """Run the load settling ``flights`` as its own task (shared by every waiter)."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        load = _Load(task, flights)
        for flight in flights.values():
            flight.load = load

    async def _wait(self, flights: list[_Flight], shared: Awaitable[Any]) -> Any:
        """Await a shared load (shielded: other callers may wait for it too); when this
        caller is cancelled and was the last one waiting, cancel the load."""
        for flight in flights:
            flight.waiters += 1
        cancelled = False
        try:
            return await asyncio.shield(shared)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            for flight in flights:
                flight.waiters -= 1
            if cancelled:
                self._abandon(flights)

    def _abandon(self, flights: list[_Flight]) -> None:
        """Cancel the loads of ``flights`` that nobody waits for any more; their flights
        are dropped first, so a later caller starts a fresh load instead of joining."""
        for load in {id(f.load): f.load for f in flights if f.load is not None}.values():
            pending = [f for f in load.flights.values() if not f.future.done()]
            if not pending or any(f.waiters > 0 for f in load.flights.values()):
                continue
            for full, flight in load.flights.items():
                self._drop_flight(full, flight)
            load.task.cancel()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a shared load's exception as seen even when every waiter has gone away."""
    if not future.cancelled():
        future.exception()
