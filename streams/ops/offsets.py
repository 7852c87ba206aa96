"""``offsets show`` and ``offsets reset``: a consumer group's position in the log.

A reset is planned first (old -> new per partition, always shown) and committed only
with ``execute``. It is refused while the group has members: a live worker would
overwrite the new offsets with its own at its next commit, and the broker itself rejects
a commit from outside a group that has members, so the refusal is enforced twice.
After a reset the workers reprocess; the version rules make that harmless (invariant 4 in
docs/architecture.md). A dry run says whether ``execute`` would be refused, and every
plan counts the posting events to reprocess, not the records (a pack holds ~90).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas.settings import Settings
from streams.ops.census import Progress, count_events
from streams.ops.errors import OpsError, UsageError
from streams.ops.group import GroupState, describe_group_with, known_groups
from streams.ops.kafka import admin_client, consumer, log_bounds, partitions_of

Strategy = Literal["earliest", "latest", "datetime", "offset", "shift"]


@dataclass(frozen=True)
class PartitionOffsets:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here
    log_start: int
    log_end: int
    owner: str | None = None  # short id of the member that owns it now

    @property
    def lag(self) -> int:
        return self.log_end - (self.committed if self.committed is not None else self.log_start)

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "committed": self.committed,
            "log_start": self.log_start,
            "log_end": self.log_end,
            "lag": self.lag,
            "owner": self.owner,
        }


@dataclass(frozen=True)
class OffsetsReport:
    group: GroupState
    partitions: list[PartitionOffsets]

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group.group,
            "state": self.group.state,
            "members": len(self.group.members),
            "total_lag": self.total_lag,
            "partitions": [p.to_json() for p in self.partitions],
        }


@dataclass(frozen=True)
class ResetSpec:
    """Exactly one way to compute the new offsets."""

    strategy: Strategy
    when: datetime | None = None  # datetime
    offsets: tuple[tuple[int, int], ...] = ()  # offset: (partition, offset) pairs
    shift: int = 0  # shift

    def describe(self) -> str:
        if self.strategy == "datetime":
            assert self.when is not None
            return f"to the first record at or after {self.when.isoformat()}"
        if self.strategy == "offset":
            return "to " + ", ".join(f"{p}:{o}" for p, o in self.offsets)
        if self.strategy == "shift":
            return f"shifted by {self.shift:+d}"
        return f"to {self.strategy}"


@dataclass(frozen=True)
class ResetRow:
    topic: str
    partition: int
    old: int | None
    new: int
    log_start: int
    log_end: int
    postings: int = 0  # posting events from ``new`` to the log end (a pack holds ~90)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def records(self) -> int:
        return self.log_end - self.new

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "old": self.old,
            "new": self.new,
            "log_start": self.log_start,
            "log_end": self.log_end,
            "records": self.records,
            "postings": self.postings,
        }


@dataclass(frozen=True)
class ResetPlan:
    group: str
    topic: str
    spec: ResetSpec
    rows: list[ResetRow]
    executed: bool = False
    postings_estimated: bool = False  # counted from a sample of the records
    refusal: str | None = None  # why --execute is refused now (the group has members)

    @property
    def records_to_reprocess(self) -> int:
        return sum(r.records for r in self.rows)

    @property
    def postings_to_reprocess(self) -> int:
        return sum(r.postings for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "topic": self.topic,
            "reset": self.spec.describe(),
            "executed": self.executed,
            "execute_refused": self.refusal,
            "postings_to_reprocess": self.postings_to_reprocess,
            "postings_estimated": self.postings_estimated,
            "records_to_reprocess": self.records_to_reprocess,
            "partitions": [r.to_json() for r in self.rows],
        }


async def committed_offsets(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    try:
        offsets: dict[TopicPartition, OffsetAndMetadata] = await admin.list_consumer_group_offsets(
            group
        )
    except GroupCoordinatorNotAvailableError:
        return {}
    except KafkaError as exc:
        raise OpsError(f"cannot read the committed offsets of group {group!r}: {exc}") from None
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def _known_group(
    admin: AIOKafkaAdminClient, group: str
) -> tuple[GroupState, dict[TopicPartition, int]]:
    """The group and its committed offsets; OpsError when the broker knows nothing of it."""
    state = await describe_group_with(admin, group)
    committed = await committed_offsets(admin, group)
    if state.state == "Dead" and not state.members and not committed:
        known = await known_groups(admin)
        raise OpsError(
            f"unknown consumer group {group!r}: no members and no committed offsets"
            + (f" (known groups: {', '.join(known)})" if known else " (no groups exist yet)")
        )
    return state, committed


async def show_offsets(
    settings: Settings, *, group: str | None = None, topic: str | None = None
) -> OffsetsReport:
    """Committed offset, log end and lag per partition (default group: the sink's)."""
    name = group or settings.consumer_group
    async with admin_client(settings) as admin:
        state, committed = await _known_group(admin, name)
    topics = (
        [topic] if topic else sorted({tp.topic for tp in committed} or {settings.topic_postings})
    )
    rows: list[PartitionOffsets] = []
    async with consumer(settings) as client:
        for t in topics:
            tps = await partitions_of(client, t)
            starts, ends = await log_bounds(client, tps)
            for tp in tps:
                owner = state.owner_of(tp.topic, tp.partition)
                rows.append(
                    PartitionOffsets(
                        tp.topic,
                        tp.partition,
                        committed.get(tp),
                        starts[tp],
                        ends[tp],
                        owner.short_id if owner else None,
                    )
                )
    return OffsetsReport(state, rows)


def refusal(state: GroupState) -> str | None:
    """Why a reset cannot be committed now, and how to make it possible; None when it can."""
    if not state.active:
        return None
    members = (
        ", ".join(f"{m.client_id}@{m.host.lstrip('/')}" for m in state.members) or "members joining"
    )
    return (
        f"consumer group {state.group!r} is {state.state} with {len(state.members)} active "
        f"member(s) ({members}); stop its workers first: `jobstream down` stops what "
        "`jobstream up --workers N` started (then `jobstream up` alone brings back Kafka, "
        "PostgreSQL and Redis), Ctrl-C or SIGTERM stops a `jobstream worker`; a worker "
        "killed -9 stays a member until its session times out"
    )


def refuse_if_active(state: GroupState) -> None:
    reason = refusal(state)
    if reason:
        raise OpsError(f"{reason}. Then run the reset again. Nothing was changed.")


async def reset_offsets(
    settings: Settings,
    *,
    group: str,
    spec: ResetSpec,
    topic: str | None = None,
    execute: bool = False,
    exact: bool = False,
    progress: Progress | None = None,
) -> ResetPlan:
    """Plan (and with ``execute`` commit) new offsets for ``group`` on ``topic``, with the
    posting events to reprocess counted (sampled past a size unless ``exact``;
    :mod:`streams.ops.census`), ``progress`` told of the records read."""
    name = topic or settings.topic_postings
    async with admin_client(settings) as admin:
        state, committed = await _known_group(admin, group)
        if execute:
            refuse_if_active(state)
    async with consumer(settings, group=group if execute else None) as client:
        tps = await partitions_of(client, name)
        starts, ends = await log_bounds(client, tps)
        targets = await _targets(client, spec, tps, committed, starts, ends)
        rows = [
            ResetRow(name, tp.partition, committed.get(tp), targets[tp], starts[tp], ends[tp])
            for tp in tps
        ]
        if execute:
            await _commit(client, group, name, rows)
    if execute:
        await _check_committed(settings, group, name, rows)
    counted = await count_events(
        settings,
        name,
        {r.partition: (r.new, r.log_end) for r in rows},
        exact=exact,
        progress=progress,
    )
    rows = [replace(r, postings=counted.events[r.partition]) for r in rows]
    return ResetPlan(
        group,
        name,
        spec,
        rows,
        executed=execute,
        postings_estimated=counted.estimated,
        refusal=None if execute else refusal(state),
    )


async def _commit(client: Any, group: str, topic: str, rows: list[ResetRow]) -> None:
    changes = {TopicPartition(topic, r.partition): r.new for r in rows if r.changed}
    if not changes:
        return
    client.assign(list(changes))
    try:
        await client.commit(changes)
    except KafkaError as exc:
        raise OpsError(
            f"the broker refused the new offsets for group {group!r} ({exc}); a worker "
            "probably joined the group meanwhile: stop it and run the reset again"
        ) from None


async def _check_committed(
    settings: Settings, group: str, topic: str, rows: list[ResetRow]
) -> None:
    async with admin_client(settings) as admin:
        after = await committed_offsets(admin, group)
    wrong = [
        r for r in rows if r.changed and after.get(TopicPartition(topic, r.partition)) != r.new
    ]
    if wrong:
        parts = [r.partition for r in wrong]
        raise OpsError(f"offsets not committed as planned for partitions {parts}")


async def _targets(
    client: Any,
    spec: ResetSpec,
    tps: list[TopicPartition],
    committed: dict[TopicPartition, int],
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    if spec.strategy == "earliest":
        return dict(starts)
    if spec.strategy == "latest":
        return dict(ends)
    if spec.strategy == "datetime":
        assert spec.when is not None
        return await offsets_at(client, tps, spec.when, ends)
    if spec.strategy == "shift":
        out = {}
        for tp in tps:
            base = committed.get(tp, starts[tp])
            out[tp] = min(max(base + spec.shift, starts[tp]), ends[tp])
        return out
    # "offset": named partitions move, the others keep their committed offset (or start)
    out = {tp: committed.get(tp, starts[tp]) for tp in tps}
    by_partition = {tp.partition: tp for tp in tps}
    for partition, offset in spec.offsets:
        tp = by_partition.get(partition)
        if tp is None:
            raise UsageError(
                f"--to-offset {partition}:{offset}: {tps[0].topic} has partitions "
                f"0..{len(tps) - 1}, not {partition}"
            )
        if not starts[tp] <= offset <= ends[tp]:
            raise UsageError(
                f"--to-offset {partition}:{offset}: partition {partition} holds offsets "
                f"{starts[tp]}..{ends[tp]} (the log end {ends[tp]} means 'nothing left')"
            )
        out[tp] = offset
    return out


async def offsets_at(
    client: Any, tps: list[TopicPartition], when: datetime, ends: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Per partition the offset of the first record with timestamp >= ``when``; the log end
    when there is none (nothing after it)."""
    ms = int(when.timestamp() * 1000)
    try:
        found = await client.offsets_for_times({tp: ms for tp in tps})
    except KafkaError as exc:
        raise OpsError(f"cannot look up offsets by time: {exc}") from None
    return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
