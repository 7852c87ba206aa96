"""Which offsets are safe to commit, per partition (invariant 3, docs/architecture.md).

An offset is *done* once its event is durable: committed in PostgreSQL or acked by the
dead-letter topic. Kafka stores one number per partition, "everything below this is
done", so the committable offset is the end of the run of done offsets that starts at
the partition's *base*: the position the consumer was last seeked to (the committed
offset, or the log start for a new group). Everything below the base is done by
induction, because only such positions are ever committed.

The base comes from the seek, never from the first event we happen to receive: Faust
may skip (and ack) events around a rebalance, so "the first event seen" can lie past
an event nobody processed. Marks are facts ("this offset is durable"), so stale marks
from an older assignment are harmless; they only ever make progress earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple


class TopicPartition(NamedTuple):
    """Same shape as Faust's ``TP`` and aiokafka's ``TopicPartition`` (they compare equal)."""

    topic: str
    partition: int


@dataclass
class _Progress:
    base: int | None = None  # every offset below is done; None until the first seek
    done: set[int] = field(default_factory=set)  # done offsets at or above base

    def fold(self) -> None:
        """Advance the base over the contiguous run of done offsets."""
        if self.base is None:
            return
        base, done = self.base, self.done
        while base in done:
            done.discard(base)
            base += 1
        self.base = base


class Checkpoints:
    """Per-partition progress: marks from the sink, bases from the consumer's seeks."""

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], _Progress] = {}

    def reset(self, tp: tuple[str, int], position: int) -> None:
        """The consumer was seeked to ``position``: it re-delivers everything from there.

        A base we already proved higher is kept (marks are facts), so a re-seek never
        loses progress; marks below the new base are dropped as settled.
        """
        progress = self._parts.setdefault(_key(tp), _Progress())
        base = position if progress.base is None else max(progress.base, position)
        progress.base = base
        progress.done = {o for o in progress.done if o >= base}
        progress.fold()

    def forget(self, tps: Iterable[tuple[str, int]]) -> None:
        """Partitions revoked: their next owner starts from the committed offset."""
        for tp in tps:
            self._parts.pop(_key(tp), None)

    def mark_done(self, tp: tuple[str, int], offsets: Iterable[int]) -> None:
        """Record that these offsets are durable (committed in Postgres or dead-lettered)."""
        progress = self._parts.setdefault(_key(tp), _Progress())
        if progress.base is None:
            progress.done.update(offsets)
        else:
            base = progress.base
            progress.done.update(o for o in offsets if o >= base)
            progress.fold()

    def committable(self, tp: tuple[str, int]) -> int | None:
        """The offset to commit for ``tp`` (next to read), or None when unknown."""
        progress = self._parts.get(_key(tp))
        return None if progress is None else progress.base

    def partitions(self) -> list[TopicPartition]:
        """Partitions with a known base, i.e. something that may be committed."""
        return [TopicPartition(*k) for k, p in self._parts.items() if p.base is not None]

    def waiting(self, tp: tuple[str, int]) -> int:
        """Done offsets held back by an earlier offset that is not done yet (a gap)."""
        progress = self._parts.get(_key(tp))
        return 0 if progress is None else len(progress.done)


def _key(tp: tuple[str, int]) -> tuple[str, int]:
    return (tp[0], int(tp[1]))
