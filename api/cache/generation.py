"""The data generation that generational cache keys (search pages, facets) carry.

The generation is a *position in the invalidation log*: the offset after the last
Invalidation applied (summed over partitions; cache-invalidation.v1 has one). Every API
instance reads the same log, so instances reach the same numbers and share L2 entries.

Coalescing, deterministic across instances: an event belongs to the wall-clock bucket
``floor(committed_at / coalesce)``; it becomes *visible* (moves the generation) once that
bucket is over -- or at once when it arrives later than that. Instances with the same
log prefix and roughly synced clocks therefore switch to the same generation at the
same bucket boundary, and a steady ingest moves the generation at most once per bucket
instead of once per event. Freshness: a committed change is visible at most
``coalesce`` after its commit, or as soon as it is consumed, whichever is later.

``committed_at`` in the future (worker clock ahead) is clamped to the local clock, so a
skewed worker can delay nothing; in the past, the event is simply visible on arrival.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class Generation:
    """Log position seen (``pending``) and the coalesced position in use (``visible``)."""

    def __init__(self, coalesce_ms: int, wall_clock: Callable[[], float] = time.time) -> None:
        self._coalesce_s = coalesce_ms / 1000.0
        self._clock = wall_clock
        self._visible = 0
        self._pending = 0
        # (position, bucket) not yet visible; one entry per bucket, buckets increasing.
        self._waiting: deque[tuple[int, int]] = deque()

    def _bucket(self, t: float) -> int:
        return math.floor(t / self._coalesce_s)

    @property
    def pending(self) -> int:
        """The newest log position applied (evictions are done up to here)."""
        return self._pending

    @property
    def visible(self) -> int:
        """The generation generational keys use now."""
        if self._waiting:
            now_bucket = self._bucket(self._clock())
            while self._waiting and self._waiting[0][1] < now_bucket:
                self._visible = max(self._visible, self._waiting.popleft()[0])
        return self._visible

    def start_at(self, position: int) -> None:
        """Where the log is when we join it: nothing before it will be applied."""
        if position > self._pending:
            self._pending = position
        if position > self._visible:
            self._visible = position
        self._waiting = deque((p, b) for p, b in self._waiting if p > self._visible)

    def observe(self, position: int, committed_at: float | None) -> None:
        """An event was applied; the log is now at ``position``."""
        if position <= self._pending:
            return
        self._pending = position
        if self._coalesce_s <= 0:
            self._visible = position
            return
        now = self._clock()
        stamp = now if committed_at is None else min(committed_at, now)
        bucket = self._bucket(stamp)
        if self._waiting and bucket <= self._waiting[-1][1]:
            # Same (or an earlier, skewed) bucket as the last waiting one: it moves with it.
            self._waiting[-1] = (position, self._waiting[-1][1])
        else:
            self._waiting.append((position, bucket))
        _ = self.visible  # releases what is already due, keeps the deque short
