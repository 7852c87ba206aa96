"""Reading postings.v1 from the beginning up to given high-water marks, without a group.

The rebuild never joins the sink's consumer group (that would trigger a rebalance of the
live workers and take partitions from them); it assigns every partition by hand and
keeps its own positions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.settings import Settings
from streams.ops import kafka
from streams.sink.records import Record, record_of

Handler = Callable[[list[Record]], Awaitable[None]]


class LogReader:
    """Every partition of one topic, read in order from the start."""

    def __init__(self, settings: Settings, *, topic: str | None = None) -> None:
        self.settings = settings
        self.topic = topic or settings.topic_postings
        self.positions: dict[int, int] = {}
        self.records_read = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._stack: AsyncExitStack | None = None
        self._tps: list[TopicPartition] = []

    @property
    def partitions(self) -> int:
        return len(self._tps)

    async def start(self) -> None:
        stack = AsyncExitStack()
        self._stack = stack
        self._consumer = consumer = await stack.enter_async_context(
            kafka.consumer(self.settings, role="rebuild")
        )
        self._tps = await kafka.partitions_of(consumer, self.topic)  # the caller stops us
        consumer.assign(self._tps)
        starts, _ = await kafka.log_bounds(consumer, self._tps)
        for tp in self._tps:
            self.positions[tp.partition] = starts[tp]
            consumer.seek(tp, starts[tp])

    async def stop(self) -> None:
        self._consumer = None
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def end_offsets(self) -> dict[int, int]:
        """The live high-water marks: everything below them is in the log now."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._tps)
        return {tp.partition: end for tp, end in ends.items()}

    def gap(self, marks: dict[int, int]) -> int:
        """Records between our positions and ``marks``."""
        return sum(max(0, marks[p] - self.positions.get(p, 0)) for p in marks)

    async def read_until(self, marks: dict[int, int], handle: Handler) -> int:
        """Hand every record below ``marks`` to ``handle`` in log order (per partition);
        returns the records read. Records fetched beyond the marks are read again later."""
        assert self._consumer is not None
        consumer = self._consumer
        read = 0
        for tp in self._tps:  # forget anything prefetched beyond the previous marks
            consumer.seek(tp, self.positions[tp.partition])
        while any(self.positions[p] < marks.get(p, 0) for p in self.positions):
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            records: list[Record] = []
            for tp, items in batches.items():
                mark = marks.get(tp.partition, 0)
                for m in items:
                    if m.offset < self.positions[tp.partition] or m.offset >= mark:
                        continue
                    records.append(record_of(m))
                    self.positions[tp.partition] = m.offset + 1
            if records:
                read += len(records)
                await handle(records)
            for tp in self._tps:  # offsets no record occupies (e.g. control records)
                mark = marks.get(tp.partition, 0)
                if self.positions[tp.partition] < mark and await consumer.position(tp) >= mark:
                    self.positions[tp.partition] = mark
        self.records_read += read
        return read
