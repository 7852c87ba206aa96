"""Faust's Kafka consumer with commits driven by :class:`Checkpoints`, not by Faust's acks.

faust-streaming 0.15.3 acks an event it *skipped* (stale generation id, flow control
paused during a rebalance) as if it had been processed, and its head-of-queue gap check
is off by one (issues #312/#606), so its acked-offset bookkeeping can commit past an
event that never reached Postgres. This consumer therefore ignores Faust's acks
entirely; Faust's own commit machinery (interval, rebalance, shutdown) still runs, but
the offset it commits for a partition is whatever :class:`Checkpoints` says is done.

Faust internals overridden here (pinned: faust-streaming==0.15.3): ``ack``,
``_filter_tps_with_pending_acks``, ``_new_offset``, ``seek_to_committed`` and
``on_partitions_revoked``. A unit test checks these still exist with these names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from streams.checkpointing.offsets import Checkpoints


class CheckpointedConsumer(aiokafka_driver.Consumer):
    """Commits exactly the offsets the sink proved durable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checkpoints = Checkpoints()

    def ack(self, message: Any) -> bool:
        """Faust's acks (including its acks of skipped events) never lead to a commit."""
        message.acked = True
        self._unacked_messages.discard(message)
        return False

    def _filter_tps_with_pending_acks(self, topics: Any = None) -> Iterator[TP]:
        for tp in self.checkpoints.partitions():
            if topics is None or tp in topics or tp.topic in topics:
                yield TP(tp.topic, tp.partition)

    def _new_offset(self, tp: TP) -> int | None:
        return self.checkpoints.committable(tp)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Seek, then tell Checkpoints where each partition restarts.

        aiokafka only seeks partitions with a committed offset > 0; the others keep
        their position, so we seek them to the log start ourselves (auto offset reset
        is ``earliest``), making "everything below the base is done" true for them too.
        """
        # Faust declares Mapping[TP, int], but a partition without a commit comes back None.
        committed: Mapping[TP, int | None] = await super().seek_to_committed()
        if not committed:
            return committed  # type: ignore[return-value]  # Faust's declared type, see above
        earliest = await self.earliest_offsets(*committed)
        unseeked: dict[TP, int] = {}
        for tp, offset in committed.items():
            start = int(earliest.get(tp) or 0)
            if offset is None or offset <= 0:
                unseeked[tp] = start
            self.checkpoints.reset((tp.topic, tp.partition), max(offset or 0, start))
        if unseeked:
            await self.seek_wait(unseeked)
        return committed  # type: ignore[return-value]  # Faust's declared type, see above

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        self.checkpoints.forget(revoked)
        await super().on_partitions_revoked(revoked)


class CheckpointedTransport(aiokafka_driver.Transport):
    Consumer = CheckpointedConsumer


class CheckpointedApp(faust.App):
    """A Faust app whose consumer is :class:`CheckpointedConsumer`."""

    def _new_transport(self) -> CheckpointedTransport:
        return CheckpointedTransport(self.conf.broker_consumer, self)
