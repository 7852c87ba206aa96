"""Offset reset for reprocessing: refused while workers run; to earliest it changes
nothing in the read model; to a datetime it replays only what came after it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.settings import Settings
from streams.ops.offsets import show_offsets
from tests.support.ops import (
    cli,
    cli_json,
    committed_and_end,
    ops_settings,
    snapshot,
    wait_caught_up,
    wait_group,
)
from tests.support.sink import (
    WorkerProcess,
    as_records,
    encoded,
    history,
    make_topics,
    metrics,
    posting,
    produce,
    reset_table,
    table,
)

pytestmark = pytest.mark.integration


async def stop(worker: WorkerProcess, settings: Settings) -> None:
    """SIGTERM, then wait until the broker has the group empty (a clean leave is immediate)."""
    worker.terminate()
    await wait_group(settings, lambda s: not s.members, what="the group to be empty")


async def test_reset_refused_while_running_then_to_earliest_reprocesses_and_changes_nothing(
    stack: Settings, tmp_path: Path
) -> None:
    await reset_table(stack)
    topics = await make_topics(stack, partitions=3)
    settings = ops_settings(topics)
    events = history(ids=400, seed=7)
    await produce(stack, topics.postings, as_records(events, topics.partitions, pack_every=2))
    worker = WorkerProcess(topics, tmp_path, "first").start()
    try:
        await wait_caught_up(topics, timeout=90)
        before = await snapshot(stack)
        assert len(before) == 400
        committed, ends = await committed_and_end(topics)

        shown = await cli_json(topics, "offsets", "show")  # default group: the sink's
        assert shown["group"] == topics.group
        assert shown["members"] == 1
        assert shown["total_lag"] == 0
        mine = [p for p in shown["partitions"] if p["topic"] == topics.postings]
        assert {p["partition"]: p["committed"] for p in mine} == committed
        assert all(p["owner"] for p in mine)

        code, out, err = await cli(
            topics, "offsets", "reset", "--group", topics.group, "--to-earliest", "--execute"
        )
        assert code == 1, out + err
        assert "active member" in err
        assert "Nothing was changed" in err
        assert (await committed_and_end(topics))[0] == committed

        dry = await cli_json(topics, "offsets", "reset", "-g", topics.group, "--to-earliest")
        assert dry["executed"] is False
        assert dry["records_to_reprocess"] == sum(ends.values())
        assert dry["records_to_reprocess"] < len(events)  # half of them came in packs
        assert dry["postings_to_reprocess"] == len(events)
        assert dry["postings_estimated"] is False
        assert "1 active member(s)" in dry["execute_refused"]
        assert "`jobstream down`" in dry["execute_refused"]
        code, out, _ = await cli(topics, "offsets", "reset", "-g", topics.group, "--to-earliest")
        assert code == 0
        said = " ".join(out.split())
        assert "--execute would be refused now: consumer group" in said
        assert f"{len(events):,} postings to reprocess ({sum(ends.values()):,} records)" in said
        assert (await committed_and_end(topics))[0] == committed

        await stop(worker, settings)
        plan = await cli_json(
            topics, "offsets", "reset", "-g", topics.group, "--to-earliest", "--execute"
        )
        assert plan["executed"] is True
        assert [(p["old"], p["new"]) for p in plan["partitions"]] == [
            (committed[p], 0) for p in range(3)
        ]
        assert (await committed_and_end(topics))[0] == dict.fromkeys(range(3), 0)

        worker = WorkerProcess(topics, tmp_path, "again").start()
        await wait_caught_up(topics, timeout=90)
        samples = metrics(worker.metrics_port)
        assert samples["jobstream_sink_events_consumed_total"] == len(events)  # all re-read
        assert samples["jobstream_sink_skipped_stale_total"] == len(events)  # none applied
        assert await snapshot(stack) == before  # row count, versions, contents, updated_at
    finally:
        if worker.alive():
            worker.kill9()


async def test_reset_to_a_datetime_replays_only_what_came_after_it(
    stack: Settings, tmp_path: Path
) -> None:
    await reset_table(stack)
    topics = await make_topics(stack, partitions=3)
    settings = ops_settings(topics)
    rng = np.random.default_rng(3)
    early = [posting(f"early{i:03d}", 1, rng) for i in range(60)]
    late = [posting(f"late{i:03d}", 1, rng) for i in range(60)]
    await produce(stack, topics.postings, encoded(early))
    await asyncio.sleep(0.05)  # record timestamps are milliseconds: keep them apart
    cut = datetime.now(UTC)
    await asyncio.sleep(0.05)
    metas = await produce(stack, topics.postings, encoded(late))
    first_late = {}
    for m in metas:
        first_late[m.partition] = min(first_late.get(m.partition, m.offset), m.offset)
    worker = WorkerProcess(topics, tmp_path, "w").start()
    try:
        await wait_caught_up(topics, timeout=90)
        assert len(await table(stack)) == 120
        await stop(worker, settings)
        await reset_table(stack)  # the read model lost everything; reprocess from `cut`

        code, _, err = await cli(
            topics, "offsets", "reset", "-g", topics.group, "--to-datetime", "not-a-time"
        )
        assert code == 2
        assert "ISO 8601" in err

        plan = await cli_json(
            topics, "offsets", "reset", "-g", topics.group,
            "--to-datetime", cut.isoformat(), "--execute",
        )  # fmt: skip
        assert {p["partition"]: p["new"] for p in plan["partitions"]} == first_late
        assert plan["postings_to_reprocess"] == plan["records_to_reprocess"] == len(late)
        assert plan["execute_refused"] is None
        worker = WorkerProcess(topics, tmp_path, "again").start()
        await wait_caught_up(topics, timeout=90)
        assert sorted(await table(stack)) == sorted(p.id for p in late)
        report = await show_offsets(settings)
        assert report.total_lag == 0
    finally:
        if worker.alive():
            worker.kill9()


async def test_unknown_group_is_a_clear_error(stack: Settings) -> None:
    topics = await make_topics(stack, partitions=2)
    code, _, err = await cli(topics, "offsets", "show", "--group", "no-such-group-xyz")
    assert code == 1
    assert "unknown consumer group 'no-such-group-xyz'" in err
    code, _, err = await cli(
        topics, "offsets", "reset", "-g", "no-such-group-xyz", "--to-earliest", "--execute"
    )
    assert code == 1
    assert "unknown consumer group" in err


async def test_reset_to_offsets_shift_and_latest_on_a_stopped_group(stack: Settings) -> None:
    """The other targets, on a group that committed and left (no worker needed)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topics = await make_topics(stack, partitions=2)
    await produce(stack, topics.postings, [(b"k", b"v", [], p) for p in (0, 1) for _ in range(5)])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=topics.group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topics.postings, p) for p in (0, 1)]
        consumer.assign(tps)
        await consumer.commit({tps[0]: 5, tps[1]: 4})
    finally:
        await consumer.stop()

    async def reset(*flags: str) -> dict[int, int]:
        plan = await cli_json(topics, "offsets", "reset", "-g", topics.group, *flags)
        return {p["partition"]: p["new"] for p in plan["partitions"]}

    assert await reset("--shift-by", "-2", "--execute") == {0: 3, 1: 2}
    assert (await committed_and_end(topics))[0] == {0: 3, 1: 2}
    assert await reset("--to-offset", "1:1", "--execute") == {0: 3, 1: 1}
    assert await reset("--shift-by", "-100") == {0: 0, 1: 0}  # clamped; dry run
    assert await reset("--to-latest", "--execute") == {0: 5, 1: 5}
    assert (await committed_and_end(topics))[0] == {0: 5, 1: 5}
    code, out, _ = await cli(topics, "offsets", "show", "-g", topics.group)  # for humans
    assert code == 0
    assert "Empty, 0 member(s), lag 0" in out
    code, out, _ = await cli(topics, "offsets", "reset", "-g", topics.group, "--to-earliest")
    assert code == 0
    assert "dry run" in out
    assert "5 → 0" in " ".join(out.replace("│", " ").split())
    code, _, err = await cli(topics, "offsets", "reset", "-g", topics.group, "--to-offset", "1:9")
    assert code == 2
    assert "partition 1 holds offsets 0..5" in err
    code, _, err = await cli(topics, "offsets", "reset", "-g", topics.group, "--to-offset", "7:0")
    assert code == 2
    assert "has partitions 0..1" in err


async def test_postings_to_reprocess_are_sampled_past_a_thousand_records_and_exact_on_demand(
    stack: Settings,
) -> None:
    """Partition 0 holds packs of 3 events, partition 1 single events: counted exactly
    below the threshold, estimated past it (uniform here, so the estimate is exact too)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.topics import CONTENT_TYPE_PACK
    from streams.ops import census
    from tests.support.sink import pack_of

    topics = await make_topics(stack, partitions=2)
    pack = (None, pack_of([b"a", b"b", b"c"]), [("content-type", CONTENT_TYPE_PACK.encode())], 0)
    packs, singles = 700, census.EXACT_MAX_RECORDS - 700 + 50
    await produce(stack, topics.postings, [pack] * packs + [(b"k", b"v", [], 1)] * singles)
    # No auto-commit: closing would commit the position it resolved on assign ("latest",
    # 700) over the 600 below whenever that lookup beat the commit.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=topics.group,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:  # a group that committed and left
        consumer.assign([TopicPartition(topics.postings, 0)])
        await consumer.commit({TopicPartition(topics.postings, 0): 600})
    finally:
        await consumer.stop()

    def postings(plan: Any) -> list[tuple[int, int]]:
        return [(p["records"], p["postings"]) for p in plan["partitions"]]

    latest = await cli_json(topics, "offsets", "reset", "-g", topics.group, "--shift-by", "0")
    assert postings(latest) == [(100, 300), (singles, singles)]
    assert latest["postings_estimated"] is False
    assert latest["execute_refused"] is None
    sampled = await cli_json(topics, "offsets", "reset", "-g", topics.group, "--to-earliest")
    assert sampled["records_to_reprocess"] == packs + singles > census.EXACT_MAX_RECORDS
    assert sampled["postings_estimated"] is True
    assert postings(sampled) == [(packs, 3 * packs), (singles, singles)]
    code, out, _ = await cli(topics, "offsets", "reset", "-g", topics.group, "--to-earliest")
    assert code == 0
    assert "estimated from a sample; --exact reads them all" in " ".join(out.split())
    exact = await cli_json(
        topics, "offsets", "reset", "-g", topics.group, "--to-earliest", "--exact"
    )
    assert exact["postings_estimated"] is False
    assert exact["postings_to_reprocess"] == 3 * packs + singles
