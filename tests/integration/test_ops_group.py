"""Consumer-group scaling: workers share the partitions, and take over a dead one's."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from schemas.settings import Settings
from tests.support.ops import (
    cli,
    ops_settings,
    partitions_by_member,
    wait_caught_up,
    wait_group,
)
from tests.support.sink import (
    WorkerProcess,
    as_records,
    expected_state,
    history,
    make_topics,
    metrics,
    produce_slowly,
    read_all,
    reset_table,
    table,
)

pytestmark = pytest.mark.integration


def upserted(worker: WorkerProcess) -> float:
    try:
        samples = metrics(worker.metrics_port)
    except OSError:
        return 0.0
    return sum(v for k, v in samples.items() if k.startswith("jobstream_sink_upserted_total"))


async def test_two_workers_share_six_partitions_and_one_takes_over_when_the_other_is_killed(
    stack: Settings, tmp_path: Path
) -> None:
    """Two workers split six partitions 3/3 and both write; `jobstream status` names each
    member's partitions; kill -9 one mid-stream: the survivor owns all six and the table
    ends complete and exact."""
    await reset_table(stack)
    topics = await make_topics(stack, partitions=6)
    settings = ops_settings(topics)
    events = history(ids=1500, seed=5)
    records = as_records(events, topics.partitions, pack_every=3)
    a = WorkerProcess(topics, tmp_path, "a").start()
    b = WorkerProcess(topics, tmp_path, "b").start()
    producing: asyncio.Task[None] | None = None
    try:
        state = await wait_group(
            settings,
            lambda s: (
                s.state == "Stable"
                and len(s.members) == 2
                and all(partitions_by_member(s, topics.postings))
                and sorted(p for ps in partitions_by_member(s, topics.postings) for p in ps)
                == list(range(6))
            ),
            what="two members sharing the six partitions",
        )
        _, out, _ = await cli(topics, "status", "--json")
        rows = json.loads(out)
        group = next(r for r in rows if r["name"] == "group")
        assert group["address"] == topics.group
        assert "2 member(s)" in group["detail"]
        members = [r for r in rows if r["name"] == "member"]
        assert sorted(sorted(m["extra"]["partitions"][topics.postings]) for m in members) == (
            partitions_by_member(state, topics.postings)
        )

        producing = asyncio.create_task(produce_slowly(stack, topics.postings, records, 8.0))
        deadline = time.monotonic() + 60
        while not (upserted(a) > 0 and upserted(b) > 0):
            assert time.monotonic() < deadline, f"both should write: {a.tail(5)}\n{b.tail(5)}"
            await asyncio.sleep(0.2)
        assert not producing.done(), "the stream should still be running when one dies"
        b.kill9()
        await wait_group(
            settings,
            lambda s: (
                len(s.members) == 1
                and partitions_by_member(s, topics.postings) == [[0, 1, 2, 3, 4, 5]]
            ),
            timeout=60,
            what="the survivor owning all six partitions",
        )
        await producing
        await wait_caught_up(topics, timeout=90)
        rows_now = await table(stack)
        assert {k: (v[0], v[1]) for k, v in rows_now.items()} == expected_state(events)
        for pid, (version, deleted, title) in rows_now.items():
            assert title == (None if deleted else f"Engineer {pid} v{version}")
        assert await read_all(stack, topics.dead_letters, expect=0, timeout=1) == []
        assert a.alive(), a.tail()
    finally:
        if producing is not None:
            producing.cancel()
        for w in (a, b):
            if w.alive():
                w.kill9()
