"""Who is the leader: the worker that owns partition 0 of postings.v1.

Faust's own leader election needs a leader topic (``<app id>-__assignor-__leader``),
which this app turns off (``topic_disable_leader``: ``jobstream up`` creates every
topic, Faust creates none). Ownership of one fixed partition gives the same guarantee
from the assignment the group already makes -- one owner at a time, moving when it
dies -- so ``@app.crontab(..., on_leader=True)`` runs on exactly one worker. Around a
rebalance two workers could briefly both believe it; the maintenance job's advisory
lock makes that harmless.
"""

from __future__ import annotations

from faust.assignor import LeaderAssignor
from faust.types import TP


def partition_leader(topic: str, partition: int = 0) -> type[LeaderAssignor]:
    """A ``LeaderAssignor`` class (Faust's ``LeaderAssignor`` setting) for ``topic``."""

    class PartitionLeader(LeaderAssignor):
        async def on_start(self) -> None:
            """No leader topic to declare."""

        def is_leader(self) -> bool:
            try:
                return TP(topic, partition) in self.app.consumer.assignment()
            except Exception:  # consumer not started yet
                return False

    return PartitionLeader
