"""The sink under faults: kill -9 mid-stream, PostgreSQL stopped mid-stream.

Invariant 3 (docs/architecture.md): whatever happens, after a restart the table equals
the highest version per posting (deletes applied), nothing is dead-lettered by mistake,
and the committed offsets reach the log end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from schemas.settings import Settings
from tests.support.sink import (
    Event,
    Topics,
    WorkerProcess,
    as_records,
    committed_and_end,
    expected_state,
    history,
    make_topics,
    metrics,
    produce_slowly,
    read_all,
    reset_table,
    table,
    wait_caught_up,
    wait_for,
)

pytestmark = pytest.mark.integration


async def committed_total(topics: Topics) -> int:
    committed, _ = await committed_and_end(topics)
    return sum(committed.values())


async def assert_final_state(topics: Topics, events: Sequence[Event]) -> None:
    await wait_caught_up(topics, timeout=120)
    rows = await table(topics.settings)
    expected = expected_state(events)
    assert {k: (v[0], v[1]) for k, v in rows.items()} == expected
    for pid, (version, is_deleted, title) in rows.items():
        assert title == (None if is_deleted else f"Engineer {pid} v{version}")
    assert await read_all(topics.settings, topics.dead_letters, expect=0, timeout=2) == []
    committed, ends = await committed_and_end(topics)
    assert committed == ends


async def test_kill_9_and_rebalances_mid_stream_lose_nothing_and_keep_highest_versions(
    stack: Settings, tmp_path: Path
) -> None:
    """20,000 events, several versions per posting out of order, some as packs. While they
    stream: kill -9 the worker, restart it, scale out to a second worker (a rebalance
    mid-batch), kill -9 again. Then the table must equal the expected final state."""
    await reset_table(stack)
    topics = await make_topics(stack, partitions=3)
    events = history(ids=5000, seed=11)[:20_000]
    records = as_records(events, topics.partitions, pack_every=4)
    producing = asyncio.create_task(produce_slowly(stack, topics.postings, records, 15.0))
    first = WorkerProcess(topics, tmp_path, "first").start()
    workers = [first]
    victim = first
    try:
        for fraction, action in ((0.15, "kill"), (0.35, "scale-out"), (0.7, "kill")):
            target = int(len(records) * fraction)
            deadline = time.monotonic() + 90
            while await committed_total(topics) < target:
                assert time.monotonic() < deadline, "\n".join(w.tail(5) for w in workers)
                assert victim.alive(), victim.tail()
                await asyncio.sleep(0.05)
            if action == "kill":
                victim.kill9()  # mid-batch, mid-commit: whatever it was doing
                victim = WorkerProcess(topics, tmp_path, f"restart-{fraction}").start()
                workers.append(victim)
            else:
                second = WorkerProcess(topics, tmp_path, "second").start()
                workers.append(second)
                # The live worker gives up partitions while it is busy (a rebalance
                # mid-batch) before anything else happens.
                await wait_for(lambda w=victim: assignments(w) >= 2, timeout=60, what="rebalance")
                # Mid-stream for the sink: records were still to be written when it
                # rebalanced (the producer itself may be done on a loaded machine).
                assert await committed_total(topics) < len(records)
        await producing
        await assert_final_state(topics, events)
        assert [w.alive() for w in workers] == [False, False, True, True]
    finally:
        producing.cancel()
        for w in workers:
            if w.alive():
                w.kill9()


async def test_postgres_down_for_10_s_is_retried_not_dead_lettered(
    stack: Settings, tmp_path: Path
) -> None:
    if stack.external_postgres:
        pytest.skip("needs the embedded PostgreSQL to stop and start it")
    from infra.stack import postgres
    from infra.stack.paths import StackPaths

    await reset_table(stack)
    topics = await make_topics(stack, partitions=3)
    events = history(ids=1500, seed=12)
    records = as_records(events, topics.partitions, pack_every=3)
    worker = WorkerProcess(topics, tmp_path).start()
    paths = StackPaths.create(stack.home)
    try:
        await wait_for(lambda: metrics_or_none(worker.metrics_port), what="worker metrics")
        producing = asyncio.create_task(produce_slowly(stack, topics.postings, records, 14.0))
        await asyncio.sleep(2.0)
        await asyncio.to_thread(postgres.stop, stack, paths)
        await asyncio.sleep(10.0)
        assert worker.alive(), worker.tail()
        await asyncio.to_thread(postgres.start, stack, paths)
        await producing
        await assert_final_state(topics, events)
        assert worker.alive(), worker.tail()
        samples = metrics(worker.metrics_port)
        assert samples['jobstream_sink_transient_retries_total{operation="database"}'] >= 1
        assert not any(k.startswith("jobstream_sink_dead_lettered_total{") for k in samples)
    finally:
        if not await asyncio.to_thread(_postgres_up, stack):
            await asyncio.to_thread(postgres.start, stack, paths)
        if worker.alive():
            worker.kill9()


def assignments(worker: WorkerProcess) -> int:
    marker = "Executing _on_partitions_assigned"
    return sum(1 for line in worker.logs() if line.get("event") == marker)


def metrics_or_none(port: int) -> dict[str, float] | None:
    try:
        return metrics(port)
    except OSError:
        return None


def _postgres_up(settings: Settings) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", settings.postgres_port)) == 0
