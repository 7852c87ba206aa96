"""How many posting events a stretch of postings.v1 holds: a record is not a posting.

A record in the gateway's default format is a ``PostingEventPack`` of ~90 events, so
"1,200 records to reprocess" would understate the work ninetyfold. Events are counted
the way the sink splits packs (:func:`streams.sink.records.event_count`, which walks the
members' length prefixes without decoding them). Up to :data:`EXACT_MAX_RECORDS` every
record is read; past that, :data:`SAMPLE_RECORDS` records spread evenly over each range
are, and the count is an estimate (records x mean events per sampled record), because
reading a whole log of packs moves gigabytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiokafka import TopicPartition

from schemas.settings import Settings
from streams.ops.kafka import consumer
from streams.ops.scan import scan
from streams.sink.records import event_count, record_of

EXACT_MAX_RECORDS = 1_000
SAMPLE_RECORDS = 100
# A sampled record is read alone: fetch about one pack (512 KiB), not 16 MiB after it.
SAMPLE_FETCH_BYTES = 1024 * 1024

Progress = Callable[[int, int], None]  # (records read, records to read)


@dataclass(frozen=True)
class EventCount:
    events: dict[int, int]  # partition -> posting events in its range
    estimated: bool  # True: from a sample of the records
    records_read: int


async def count_events(
    settings: Settings,
    topic: str,
    ranges: Mapping[int, tuple[int, int]],
    *,
    exact: bool = False,
    progress: Progress | None = None,
) -> EventCount:
    """Posting events at offsets [start, end) per partition of ``topic``; exact when
    ``exact`` or the ranges hold at most EXACT_MAX_RECORDS records, else sampled."""
    tick = progress or (lambda done, total: None)
    total = sum(max(0, end - start) for start, end in ranges.values())
    if exact or total <= EXACT_MAX_RECORDS:
        return await _exact(settings, topic, ranges, total, tick)
    return await _sampled(settings, topic, ranges, total, tick)


async def _exact(
    settings: Settings,
    topic: str,
    ranges: Mapping[int, tuple[int, int]],
    total: int,
    tick: Progress,
) -> EventCount:
    events = dict.fromkeys(ranges, 0)
    read = 0
    start = {TopicPartition(topic, p): a for p, (a, _) in ranges.items()}
    end = {TopicPartition(topic, p): b for p, (_, b) in ranges.items()}
    async with consumer(settings) as client:
        async for message in scan(client, start, end):
            events[message.partition] += event_count(record_of(message))
            read += 1
            if read % 50 == 0 or read == total:
                tick(read, total)
    return EventCount(events, False, read)


async def _sampled(
    settings: Settings,
    topic: str,
    ranges: Mapping[int, tuple[int, int]],
    total: int,
    tick: Progress,
) -> EventCount:
    """Each partition's share of SAMPLE_RECORDS, at evenly spaced offsets of its range."""
    plan = {
        p: [a + (2 * i + 1) * (b - a) // (2 * k) for i in range(k)]
        for p, (a, b) in ranges.items()
        if (k := min(b - a, math.ceil(SAMPLE_RECORDS * (b - a) / total))) > 0
    }
    todo = sum(len(offsets) for offsets in plan.values())
    events = dict.fromkeys(ranges, 0)
    read = 0
    async with consumer(settings, fetch_bytes=SAMPLE_FETCH_BYTES) as client:
        for p, offsets in plan.items():
            tp = TopicPartition(topic, p)
            seen = 0
            for offset in offsets:
                async for message in scan(client, {tp: offset}, {tp: offset + 1}):
                    seen += event_count(record_of(message))
                read += 1
                tick(read, todo)
            a, b = ranges[p]
            events[p] = round(seen * (b - a) / len(offsets))
    return EventCount(events, True, read)
