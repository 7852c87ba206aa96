"""Cache counters: plain numbers the cache bumps, read by GraphQL and Prometheus."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from schemas.jobstream.v1 import events_pb2

FRESHNESS_PATHS = ("kafka", "outbox")
"""How an invalidation reached an instance: the log, or the outbox watch (outbox.py)."""


def commit_time(event: events_pb2.Invalidation) -> float | None:
    """When the sink committed the change ``event`` announces (seconds since the epoch),
    None for an event written before the field existed."""
    if not event.HasField("committed_at"):
        return None
    return event.committed_at.seconds + event.committed_at.nanos / 1e9


class Freshness:
    """One instance's ``jobstream_api_freshness_seconds``: seconds from an invalidation's
    commit (``committed_at``, stamped in the sink's transaction) to its eviction here.
    The log and the outbox watch may both apply the same event; it counts once, for the
    path that applied it first (the later eviction changes nothing)."""

    def __init__(self, histogram: Histogram, *, remember: int = 10_000) -> None:
        self._histogram = histogram
        self._remember = remember
        self._seen: OrderedDict[tuple[str, int, int], None] = OrderedDict()

    def observe(self, path: str, event: events_pb2.Invalidation, now: float) -> None:
        """Count ``event`` applied at ``now`` (never negative: the sink's clock may run
        ahead of ours); nothing for an event without ``committed_at`` or seen before."""
        committed = commit_time(event)
        if committed is None:
            return
        key = (event.source, event.committed_at.seconds, event.committed_at.nanos)
        if key in self._seen:
            return
        self._seen[key] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self._histogram.labels(path).observe(max(0.0, now - committed))


@dataclass(slots=True)
class KindCounters:
    """Mutable counters of one kind (``posting``, ``search``...)."""

    l1_hits: int = 0
    l1_misses: int = 0
    l2_hits: int = 0
    l2_misses: int = 0
    loads: int = 0
    load_errors: int = 0
    stale_loads: int = 0


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of the cache's counters, summed over kinds, with ``by_kind`` detail.

    ``l2_misses`` includes lookups that skipped Redis (down, or a key being evicted);
    ``stale_loads`` counts loads whose result was not stored because the key was
    invalidated while they ran.
    """

    l1_hits: int = 0
    l1_misses: int = 0
    l2_hits: int = 0
    l2_misses: int = 0
    loads: int = 0
    load_errors: int = 0
    stale_loads: int = 0
    l2_errors: int = 0
    l1_entries: int = 0
    generation: int = 0
    redis_healthy: bool = True
    by_kind: Mapping[str, KindCounters] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        """Lookups answered by L1 or L2, of all lookups (every lookup starts at L1)."""
        lookups = self.l1_hits + self.l1_misses
        return 0.0 if lookups == 0 else (self.l1_hits + self.l2_hits) / lookups

    @property
    def l1_hit_rate(self) -> float:
        lookups = self.l1_hits + self.l1_misses
        return 0.0 if lookups == 0 else self.l1_hits / lookups

    @property
    def l2_hit_rate(self) -> float:
        lookups = self.l2_hits + self.l2_misses
        return 0.0 if lookups == 0 else self.l2_hits / lookups


def summarise(
    kinds: Mapping[str, KindCounters],
    *,
    l2_errors: int,
    l1_entries: int,
    generation: int,
    redis_healthy: bool,
) -> CacheStats:
    def total(name: str) -> int:
        return sum(int(getattr(c, name)) for c in kinds.values())

    return CacheStats(
        l1_hits=total("l1_hits"),
        l1_misses=total("l1_misses"),
        l2_hits=total("l2_hits"),
        l2_misses=total("l2_misses"),
        loads=total("loads"),
        load_errors=total("load_errors"),
        stale_loads=total("stale_loads"),
        l2_errors=l2_errors,
        l1_entries=l1_entries,
        generation=generation,
        redis_healthy=redis_healthy,
        by_kind={k: KindCounters(**_fields(c)) for k, c in kinds.items()},
    )


def _fields(c: KindCounters) -> dict[str, int]:
    return {name: int(getattr(c, name)) for name in KindCounters.__slots__}


class CacheCollector(Collector):
    """Exports one cache's counters at scrape time (``jobstream_cache_*``).

    A collector over the cache's own numbers, registered in the registry the caller
    passes: two caches in one process (tests, two apps) each use their own registry, so
    metric names never collide and nothing lives in module globals.
    """

    def __init__(self, stats: Callable[[], CacheStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        stats = self._stats()
        hits = CounterMetricFamily(
            "jobstream_cache_hits",
            "Lookups answered, per kind and level.",
            labels=["kind", "level"],
        )
        misses = CounterMetricFamily(
            "jobstream_cache_misses",
            "Lookups not answered, per kind and level.",
            labels=["kind", "level"],
        )
        loads = CounterMetricFamily(
            "jobstream_cache_loads", "Loader calls (cache misses on both levels).", labels=["kind"]
        )
        stale = CounterMetricFamily(
            "jobstream_cache_stale_loads",
            "Loads not stored because their key was invalidated meanwhile.",
            labels=["kind"],
        )
        for kind, c in sorted(stats.by_kind.items()):
            hits.add_metric([kind, "l1"], c.l1_hits)
            hits.add_metric([kind, "l2"], c.l2_hits)
            misses.add_metric([kind, "l1"], c.l1_misses)
            misses.add_metric([kind, "l2"], c.l2_misses)
            loads.add_metric([kind], c.loads)
            stale.add_metric([kind], c.stale_loads)
        yield hits
        yield misses
        yield loads
        yield stale
        yield CounterMetricFamily(
            "jobstream_cache_l2_errors",
            "Redis operations that failed or timed out.",
            value=stats.l2_errors,
        )
        yield GaugeMetricFamily(
            "jobstream_cache_l1_entries", "Entries in the in-process cache.", value=stats.l1_entries
        )
        yield GaugeMetricFamily(
            "jobstream_cache_data_generation",
            "Invalidation-log position used by generational keys.",
            value=stats.generation,
        )
        yield GaugeMetricFamily(
            "jobstream_cache_redis_healthy",
            "1 while L2 (Redis) is in use, 0 while the breaker skips it.",
            value=float(stats.redis_healthy),
        )
