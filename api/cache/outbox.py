"""A second path from a commit to the caches: the sink's invalidation outbox.

The sink commits a batch and its Invalidation in one transaction, then publishes the
event to Kafka and deletes the row. While Kafka cannot take the event -- the partition's
leader lost, its election takes seconds -- the postings are already visible in
PostgreSQL but no instance hears of them, and cached copies would outlive the 1 s bound
(invariant 6 in docs/architecture.md; the chaos run measured 2-4 s before this). So
every instance also reads the outbox every ``every_s``: a row older than ``late_s`` is an
invalidation Kafka has not taken yet, and its postings are evicted here at once, L1 and
L2 (the Kafka event evicts them again when it comes: evicting twice is harmless, and a
reload after the eviction reads the committed row). A row on the normal path lives
milliseconds and is never seen. Search pages follow the data generation, which only the
log moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import structlog
from google.protobuf.message import DecodeError

from api.cache.stats import Freshness
from api.cache.tiered import POSTING, TieredCache
from schemas.db.outbox import OUTBOX_PENDING
from schemas.jobstream.v1 import events_pb2

log = structlog.get_logger("api.cache.outbox")

ROWS_PER_POLL = 1000


class OutboxWatch:
    """Evicts the postings of invalidations that are committed but not yet in Kafka."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        cache: TieredCache,
        *,
        every_s: float,
        late_s: float,
        freshness: Freshness | None = None,
    ) -> None:
        self._pool = pool
        self._freshness = freshness
        self._cache = cache
        self._every_s = every_s
        self._late_s = late_s
        self._seen: set[int] = set()  # rows already applied, while they are still there
        self._task: asyncio.Task[None] | None = None
        self.evicted = 0  # postings evicted from late rows (for /health)
        self.failing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-watch")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
                self.failing = False
            except Exception as exc:  # PostgreSQL away: the requests say so, not this
                if not self.failing:
                    log.warning("outbox watch cannot read the outbox", error=repr(exc))
                self.failing = True
            await asyncio.sleep(self._every_s)

    async def poll(self) -> int:
        """Apply the late rows not applied yet; how many postings were evicted."""
        rows = await self._pool.fetch(OUTBOX_PENDING, self._late_s, ROWS_PER_POLL)
        present = {int(r["id"]) for r in rows}
        fresh = [r for r in rows if int(r["id"]) not in self._seen]
        self._seen = present
        ids: list[str] = []
        events = []
        for row in fresh:
            try:
                event = events_pb2.Invalidation.FromString(bytes(row["payload"]))
            except DecodeError:
                continue
            ids.extend(p.id for p in event.postings)
            events.append(event)
        if ids:
            await self._cache.evict(POSTING, ids)
            if self._freshness is not None:
                now = time.time()
                for event in events:
                    self._freshness.observe("outbox", event, now)
            self.evicted += len(ids)
            log.info("evicted postings of invalidations Kafka has not taken", postings=len(ids))
        return len(ids)
