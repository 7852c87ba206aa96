"""Every API instance reads every cache-invalidation.v1 event and applies it to its cache.

No consumer group: a group would share the events out between instances, and each
instance must evict from its own L1. The partitions are assigned by hand and nothing is
committed.

Where it joins the log: L2 outlives API instances, so an update committed while none
ran would be served from L2 until its TTL ran out if the next instance started at the
log's end. Instances therefore record in Redis the position L2 is valid at (every
eviction up to it written, :meth:`TieredCache.record_l2_valid_at`), and a starting
instance replays the log from there, evicting what changed, before it reads L2 (the
cache holds L2 until then; L1 and PostgreSQL serve). When that position is unknown
(never recorded, Redis flushed or its maxmemory evicted it), behind the log's retention,
ahead of the log (a recreated topic) or more than ``MAX_CATCH_UP`` events back, nobody
can vouch for L2's postings: they are purged and the listener joins at the end.

If the connection drops, aiokafka reconnects and continues from the same position, so
no event is skipped; a failure of the consumer itself rebuilds it at the positions
already reached. ``status()`` reports connection, lag and the last event for /health.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf.message import DecodeError

from api.cache.stats import Freshness, commit_time
from api.cache.tiered import TieredCache
from schemas import kafka
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings
from schemas.tracing import linked_span

log = structlog.get_logger("api.cache.listener")
TRACE_SCOPE = "jobstream.api"

CONNECTED_WITHIN_S = 5.0
MAX_CATCH_UP = 100_000  # events replayed at start; further back, purging L2 is cheaper


def catch_up_from(
    valid_at: dict[int, int] | None, starts: dict[int, int], ends: dict[int, int]
) -> dict[int, int] | None:
    """Where to start replaying so L2 is right again, per partition; None when L2's
    recorded position cannot be used (unknown, a partition missing, outside the log's
    [start, end], or too far back) and its postings must be dropped instead."""
    if not valid_at or any(p not in valid_at for p in ends):
        return None
    if any(not starts[p] <= valid_at[p] <= ends[p] for p in ends):
        return None
    if sum(ends[p] - valid_at[p] for p in ends) > MAX_CATCH_UP:
        return None
    return {p: valid_at[p] for p in ends}


class TopicMissing(RuntimeError):
    """The invalidation topic does not exist (yet): `jobstream up` creates it."""


class InvalidationListener:
    """Background consumer of the invalidation log for one :class:`TieredCache`."""

    def __init__(
        self,
        settings: Settings,
        cache: TieredCache,
        *,
        ready_timeout_s: float = 5.0,
        poll_ms: int = 200,
        freshness: Freshness | None = None,
    ) -> None:
        self._settings = settings
        self._freshness = freshness
        self._cache = cache
        self._topic = settings.topic_invalidations
        self._ready_timeout_s = ready_timeout_s
        self._poll_ms = poll_ms
        self._role = f"api-cache-{uuid.uuid4().hex[:8]}"
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._events = 0
        self._bad_records = 0
        self._last_event_at: float | None = None
        self._last_delay_s: float | None = None
        self._last_error: str | None = None
        self._positioned_at: float | None = None
        self._catch_up_to: dict[int, int] | None = None  # the log's end when we joined
        cache.hold_l2()  # until the log is applied up to where L2 is valid

    async def start(self) -> None:
        """Start consuming in the background; wait (``ready_timeout_s``) until positioned.

        When Kafka is not reachable yet the API starts anyway: the listener keeps
        retrying and ``status()`` says it is not connected.
        """
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="cache-invalidation-listener")
        if not await self.wait_ready(self._ready_timeout_s):
            log.warning(
                "invalidation listener not connected yet; retrying in the background",
                topic=self._topic,
                error=self._last_error,
            )

    async def wait_ready(self, timeout_s: float) -> bool:
        """Whether the listener has caught up with the log as it was when it joined."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        return self._ready.is_set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> dict[str, Any]:
        """Health: connected, position, lag (records behind the log end), last event."""
        now = time.time()
        consumer = self._consumer
        highwater: int | None = None
        polled_ms: int | None = None
        if consumer is not None and self._partitions:
            marks = [consumer.highwater(tp) for tp in self._partitions]
            if all(m is not None for m in marks):
                highwater = sum(int(m) for m in marks)
            polls = [consumer.last_poll_timestamp(tp) for tp in self._partitions]
            known = [int(p) for p in polls if p is not None]
            polled_ms = min(known) if len(known) == len(polls) else None
        position = sum(self._positions.values())
        recent_poll = polled_ms is not None and now * 1000 - polled_ms < CONNECTED_WITHIN_S * 1000
        just_positioned = (
            self._positioned_at is not None and now - self._positioned_at < CONNECTED_WITHIN_S
        )
        connected = consumer is not None and (recent_poll or just_positioned)
        return {
            "topic": self._topic,
            "connected": connected,
            "running": self._task is not None and not self._task.done(),
            "position": position,
            "lag": None if highwater is None else max(0, highwater - position),
            "events": self._events,
            "bad_records": self._bad_records,
            "last_event_at": self._last_event_at,
            "last_event_age_s": None
            if self._last_event_at is None
            else round(now - self._last_event_at, 3),
            "last_commit_to_apply_s": self._last_delay_s,
            "generation": self._cache.generation,
            "l2_in_use": self._cache.l2_vouched,
            "last_error": self._last_error,
        }

    # --- the loop -------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.5
        while True:
            consumer: AIOKafkaConsumer | None = None
            try:
                consumer = await self._connect()
                backoff = 0.5
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("invalidation listener failed; reconnecting", error=self._last_error)
            finally:
                if consumer is not None:
                    self._consumer = None
                    with contextlib.suppress(Exception):
                        await consumer.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def _connect(self) -> AIOKafkaConsumer:
        consumer = kafka.consumer(self._settings, self._role, fetch_max_wait_ms=100)
        try:
            await consumer.start()
            # Without a subscription the consumer's own metadata never lists the topic;
            # ask the cluster (what ``consumer.topics()`` does) and keep the answer.
            cluster = await consumer._client.fetch_all_metadata()
            numbers = cluster.partitions_for_topic(self._topic)
            if not numbers:
                raise TopicMissing(f"topic {self._topic!r} does not exist")
            partitions = [TopicPartition(self._topic, p) for p in sorted(numbers)]
            consumer.assign(partitions)
            first_time = self._catch_up_to is None
            if first_time:
                await self._join(consumer, partitions)
            for tp in partitions:
                consumer.seek(tp, self._positions[tp.partition])
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self._partitions = partitions
        self._consumer = consumer
        if first_time:
            self._cache.start_generation(sum(self._positions.values()))
        self._last_error = None
        self._positioned_at = time.time()
        log.info(
            "invalidation listener positioned",
            topic=self._topic,
            position=sum(self._positions.values()),
        )
        await self._caught_up()
        return consumer

    async def _join(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        """First connection: start where L2 is valid, or drop L2's postings and start at
        the end (see the module docstring)."""
        starts = {
            tp.partition: o for tp, o in (await consumer.beginning_offsets(partitions)).items()
        }
        ends = {tp.partition: o for tp, o in (await consumer.end_offsets(partitions)).items()}
        valid_at = await self._cache.l2_valid_at(self._topic)
        resume = catch_up_from(valid_at, starts, ends)
        if resume is None:
            self._cache.drop_l2_postings()
            log.info(
                "L2 postings dropped: no usable valid-at position", valid_at=valid_at, end=ends
            )
            resume = ends
        elif resume != ends:
            log.info("catching up on the invalidation log", valid_at=resume, end=ends)
        self._positions = dict(resume)
        self._catch_up_to = ends

    async def _caught_up(self) -> None:
        """Record where L2 is valid; once the log is applied up to where it was when we
        joined, use L2 again and tell start() (idempotent)."""
        await self._cache.record_l2_valid_at(self._topic, dict(self._positions))
        if self._ready.is_set() or self._catch_up_to is None:
            return
        if all(self._positions.get(p, 0) >= end for p, end in self._catch_up_to.items()):
            self._cache.release_l2()
            self._ready.set()

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=self._poll_ms, max_records=1000)
            for tp, records in batches.items():
                for record in records:
                    # Its own trace, linked to the sink batch that published it.
                    with linked_span(
                        TRACE_SCOPE,
                        "cache eviction",
                        [record.headers],
                        {"jobstream.partition": tp.partition, "jobstream.offset": record.offset},
                    ):
                        self._apply(tp.partition, record.offset, record.value)
            if batches:
                await self._caught_up()

    def _apply(self, partition: int, offset: int, value: bytes | None) -> None:
        try:
            event = events_pb2.Invalidation.FromString(value or b"")
        except DecodeError as exc:
            # Advance the generation anyway: something changed, we cannot tell what.
            self._bad_records += 1
            log.warning(
                "undecodable invalidation", partition=partition, offset=offset, error=str(exc)
            )
            event = events_pb2.Invalidation()
        self._positions[partition] = offset + 1
        self._cache.apply_invalidation(event, sum(self._positions.values()) - 1)
        now = time.time()
        self._events += 1
        self._last_event_at = now
        # Not the catch-up replay of what changed before this instance served.
        if self._freshness is not None and self._ready.is_set():
            self._freshness.observe("kafka", event, now)
        committed = commit_time(event)
        if committed is not None:
            self._last_delay_s = round(now - committed, 4)
