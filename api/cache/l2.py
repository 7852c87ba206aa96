"""L2: the Redis every API instance shares, behind short timeouts and a circuit breaker.

An entry's first byte says what it is: ``v`` + codec bytes is a value, ``x`` + a log
position is a tombstone (why evictions write tombstones, not DELs: :mod:`api.cache.tiered`).
Both read paths, one key (GET) and many (MGET), decode through :meth:`L2.read`. An entry
this code cannot use (another version's format, corruption) is a miss that the next fill
*repairs*: only then may a fill replace a value, so a bad entry costs one load, not one
load per read until its TTL runs out.

Redis trouble never fails a request: every call has a short timeout, the first failure
opens the breaker (L2 skipped, :attr:`L2.healthy` False, one warning per outage), and a
background task probes every ``breaker_open_s``. It closes the breaker only once the
evictions made meanwhile have reached Redis, so a Redis that comes back (with AOF) cannot
serve a posting evicted during the outage. A generic breaker's half-open trial call could
not give that, hence this small one.

L2 also records the invalidation-log position it is *valid at* (:meth:`L2.record_valid_at`):
per partition, the position up to which every eviction is in Redis. Instances write it
as they apply events (forward only); an instance starting later replays the log from
there before it reads L2 (:mod:`api.cache.listener`), so an update committed while no
instance ran cannot be served from L2.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from redis.asyncio import Redis

from api.cache.codecs import Codec

T = TypeVar("T")
R = TypeVar("R")
log = structlog.get_logger("api.cache")

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
# KEYS[1] = the valid-at hash; ARGV: partition, position, partition, position, ...
# A field only moves forward: an instance behind the others never moves it back.
VALID_AT_LUA = """
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1
"""
_GLOB_SPECIAL = re.compile(r"([\\*?\[\]])")


@dataclass
class _Pending:
    """Evictions not yet in Redis: full key -> (kind, eviction number, log position)."""

    keys: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    purge_kinds: set[str] = field(default_factory=set)
    counter: int = 0

    def __bool__(self) -> bool:
        return bool(self.keys or self.purge_kinds)


class L2:
    """Reads, fills and evictions of one namespace's keys in Redis; never raises on Redis
    trouble. The Redis client is the caller's (:meth:`aclose` leaves it open)."""

    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str,
        ttl_s: float,
        timeout_s: float = 0.2,
        breaker_open_s: float = 2.0,
        tombstone_s: float = 10.0,
        max_pending_evictions: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._ns = namespace
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._timeout_s = timeout_s
        self._breaker_open_s = breaker_open_s
        self._tombstone_ms = max(1, int(tombstone_s * 1000))
        self._max_pending = max_pending_evictions
        self._clock = clock
        self._pending = _Pending()
        self._healthy = True
        self._down_since: float | None = None
        self._worker: asyncio.Task[None] | None = None
        self.errors = 0
        self.last_error: str | None = None

    @property
    def healthy(self) -> bool:
        """False while the breaker is open."""
        return self._healthy

    def usable(self, kind: str, full: str) -> bool:
        """Whether ``full`` may be read and filled now: the breaker is closed and no
        eviction of the key (or purge of its kind) is still on its way to Redis."""
        pending = self._pending
        return self._healthy and full not in pending.keys and kind not in pending.purge_kinds

    # --- reads and fills ------------------------------------------------------------
    async def read(self, fulls: list[str], codec: Codec[T]) -> tuple[dict[str, T], set[str]]:
        """The values found, by key, and the keys whose entries a fill should repair.

        A tombstone or an absent key is neither: the fill script decides whether a load
        may fill it.
        """
        raws: list[Any]
        if len(fulls) == 1:
            raws = [await self._call(self._redis.get(fulls[0]), None)]
        else:
            raws = await self._call(self._redis.mget(fulls), [None] * len(fulls))
        values: dict[str, T] = {}
        repair: set[str] = set()
        for full, raw in zip(fulls, raws, strict=True):
            if raw is None:
                continue
            data = raw.encode() if isinstance(raw, str) else bytes(raw)
            if data[:1] == TOMBSTONE:
                continue
            try:
                if data[:1] != VALUE_PREFIX:
                    raise ValueError(f"unknown tag {data[:1]!r}")
                values[full] = codec.loads(data[1:])
            except Exception as exc:
                log.warning("undecodable L2 entry; reloading", key=full, error=repr(exc))
                repair.add(full)
        return values, repair

    async def fill(
        self,
        values: Mapping[str, T],
        codec: Codec[T],
        *,
        start: int,
        repair: Collection[str] = (),
    ) -> None:
        """Store loaded values unless a value or a tombstone newer than ``start`` (the log
        position applied before the load) is there; ``repair`` keys may replace a value."""
        if not self._healthy:
            return
        payloads: list[tuple[str, bytes]] = []
        for full, value in values.items():
            try:
                payloads.append((full, VALUE_PREFIX + codec.dumps(value)))
            except Exception as exc:
                log.warning("value not encodable for L2", key=full, error=repr(exc))
        if not payloads:
            return
        pipe = self._redis.pipeline(transaction=False)
        for full, payload in payloads:
            pipe.eval(FILL_LUA, 1, full, payload, self._ttl_ms, start, int(full in repair))
        await self._call(pipe.execute(), None)

    # --- the position L2 is valid at -------------------------------------------------
    def _valid_at_key(self, topic: str) -> str:
        return f"{self._ns}:valid-at:{topic}"

    async def valid_at(self, topic: str) -> dict[int, int] | None:
        """Per partition of ``topic``, the position up to which every eviction is in Redis;
        None when unknown (never recorded, flushed, evicted by maxmemory, Redis down)."""
        raw = await self._call(self._redis.hgetall(self._valid_at_key(topic)), None)
        if not raw:
            return None
        try:
            return {int(k): int(v) for k, v in raw.items()}
        except ValueError:
            return None

    async def record_valid_at(self, topic: str, positions: Mapping[int, int]) -> bool:
        """Record ``positions`` once every queued eviction is in Redis; False when some are
        not (Redis down or slow): a later call records a later position instead."""
        await self.deliver_now()
        if self._pending or not self._healthy or not positions:
            return False
        args = [str(n) for item in sorted(positions.items()) for n in item]
        done = await self._call(
            self._redis.eval(VALID_AT_LUA, 1, self._valid_at_key(topic), *args), None
        )
        return done is not None

    # --- evictions ------------------------------------------------------------------
    def evict(self, kind: str, fulls: Iterable[str], position: int) -> None:
        """Queue tombstones stamped ``position``; the keys are not read until they are written."""
        pending = self._pending
        for full in fulls:
            pending.counter += 1
            pending.keys[full] = (kind, pending.counter, position)
        if len(pending.keys) > self._max_pending:
            # A long outage under heavy ingest: stop tracking keys, purge the kinds instead.
            pending.purge_kinds.update(entry[0] for entry in pending.keys.values())
            pending.keys.clear()
            log.warning(
                "too many L2 evictions pending; will purge", kinds=sorted(pending.purge_kinds)
            )

    def purge(self, kind: str) -> None:
        """Queue the deletion of every non-generational key of ``kind``."""
        self._pending.purge_kinds.add(kind)

    async def deliver_now(self) -> None:
        """Write the queued evictions while the caller waits (if Redis is up), else later."""
        if self._pending and self._healthy:
            try:
                await self._deliver()
            except Exception as exc:
                self._failed(exc)
        self.ensure_worker()

    async def _deliver(self) -> None:
        """Write the pending tombstones (and purges) to Redis; raises on failure."""
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
        pattern = _GLOB_SPECIAL.sub(r"\\\1", f"{self._ns}:{kind}:") + "*"
        cursor: int = 0
        while True:
            async with asyncio.timeout(self._timeout_s * 5):
                cursor, keys = await self._redis.scan(cursor, match=pattern, count=1000)
                if keys:
                    await self._redis.unlink(*keys)
            if cursor == 0:
                return

    # --- the breaker ----------------------------------------------------------------
    async def _call(self, command: Awaitable[R], fallback: R) -> R:
        """One Redis round trip within the timeout; on failure, ``fallback`` (breaker opened)."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await command
        except Exception as exc:
            self._failed(exc)
            return fallback

    def _failed(self, exc: BaseException) -> None:
        """Count the error; on the first one of an outage, open the breaker and log once."""
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if self._healthy:
            self._healthy = False
            self._down_since = self._clock()
            log.warning(
                "redis unavailable: serving from L1 and the database, probing every "
                f"{self._breaker_open_s:g}s",
                error=self.last_error,
            )
        self.ensure_worker()

    def _recovered(self) -> None:
        outage = None if self._down_since is None else self._clock() - self._down_since
        self._healthy = True
        self._down_since = None
        log.info("redis available again: L2 back in use", outage_s=outage)

    def ensure_worker(self) -> None:
        """Run the background task when there is work: evictions to write, or a probe."""
        if self._healthy and not self._pending:
            return
        if self._worker is not None and not self._worker.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside a loop: the next async call starts it
            return
        self._worker = loop.create_task(self._maintain(), name="cache-l2-maintenance")

    async def _maintain(self) -> None:
        while True:
            if not self._healthy:
                await asyncio.sleep(self._breaker_open_s)
                try:
                    async with asyncio.timeout(self._timeout_s):
                        await self._redis.ping()
                    await self._deliver()  # replay evictions before anyone reads L2 again
                except Exception as exc:
                    self._failed(exc)
                    continue
                self._recovered()
                continue
            if not self._pending:
                return
            try:
                await self._deliver()
            except Exception as exc:
                self._failed(exc)

    async def aclose(self) -> None:
        """Stop the background task (evictions still queued are dropped)."""
        worker = self._worker
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(BaseException):
                await worker
