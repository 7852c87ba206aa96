"""Replay a time range of postings.v1 into postings.v1, for reprocessing.

Unlike an offset reset this needs no stopped group and touches no offsets: the records
of [since, until) are appended again -- same key, value, headers and *partition* (a pack
must stay on the partition its members hash to, and per-posting order is kept) -- plus an
``x-replayed-from`` header. The live workers process them as new records; the version
rules make that a no-op for rows already at that version (invariant 4, docs/architecture.md),
and it re-applies
them where the read model lost them (a restored backup, a table fixed by hand).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka.errors import KafkaError

from schemas.settings import Settings
from streams.ops.errors import OpsError, UsageError
from streams.ops.kafka import consumer, log_bounds, partitions_of, producer
from streams.ops.offsets import offsets_at
from streams.ops.scan import scan

H_REPLAYED_FROM = "x-replayed-from"
Progress = Callable[[int, int], None]


@dataclass
class ReplayReport:
    topic: str
    since: datetime
    until: datetime | None
    executed: bool
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # partition -> [from, to)
    replayed: int = 0

    @property
    def records(self) -> int:
        return sum(end - start for start, end in self.ranges.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "since": self.since.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "executed": self.executed,
            "records": self.records,
            "replayed": self.replayed,
            "partitions": [
                {"partition": p, "from_offset": s, "to_offset": e, "records": e - s}
                for p, (s, e) in sorted(self.ranges.items())
            ],
        }


async def replay_range(
    settings: Settings,
    *,
    since: datetime,
    until: datetime | None = None,
    execute: bool = False,
    progress: Progress | None = None,
) -> ReplayReport:
    """Re-produce postings.v1's records with timestamps in [since, until) (dry run unless
    ``execute``). The range is fixed before the first send, so the copies are not copied."""
    if until is not None and until <= since:
        raise UsageError(
            f"--to-datetime {until.isoformat()} is not after --from-datetime {since.isoformat()}"
        )
    topic = settings.topic_postings
    report = ReplayReport(topic, since, until, execute)
    tick = progress or (lambda _d, _t: None)
    async with consumer(settings) as client:
        tps = await partitions_of(client, topic)
        _, ends = await log_bounds(client, tps)
        start = await offsets_at(client, tps, since, ends)
        stop = await offsets_at(client, tps, until, ends) if until else dict(ends)
        report.ranges = {tp.partition: (start[tp], max(start[tp], stop[tp])) for tp in tps}
        if not execute or report.records == 0:
            return report
        total = report.records
        async with producer(settings) as prod:
            futures: list[Any] = []
            async for record in scan(client, start, stop):
                headers = [
                    *list(record.headers or ()),
                    (H_REPLAYED_FROM, f"{topic}:{record.partition}:{record.offset}".encode()),
                ]
                futures.append(
                    await prod.send(
                        topic,
                        record.value,
                        key=record.key,
                        headers=headers,
                        partition=record.partition,
                    )
                )
                if len(futures) >= 1000:
                    report.replayed += await _acked(futures, report)
                    futures = []
                    tick(report.replayed, total)
            report.replayed += await _acked(futures, report)
            tick(report.replayed, total)
    return report


async def _acked(futures: list[Any], report: ReplayReport) -> int:
    try:
        await asyncio.gather(*futures)
    except KafkaError as exc:
        raise OpsError(
            f"replay failed after {report.replayed} records were re-produced ({exc}); "
            "re-running it repeats those too, which the version rules make harmless"
        ) from None
    return len(futures)
