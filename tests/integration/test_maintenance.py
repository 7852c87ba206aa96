"""The maintenance job on the real stack: by hand (``jobstream maintenance run``) and from
the worker's crontab (cron ``* * * * *``, so it fires within a minute of the start)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.settings import Settings
from tests.support.sink import (
    PYTHON,
    ROOT,
    Topics,
    WorkerProcess,
    deleted,
    encoded,
    make_topics,
    posting,
    produce,
    read_all,
    reset_table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration

ENV = {
    "JOBSTREAM_MAINTENANCE_CRON": "* * * * *",
    "JOBSTREAM_MAINTENANCE_TIMEZONE": "Europe/Berlin",
    "JOBSTREAM_RETRYABLE_ERROR_CLASSES": "undecodable,db_*",
    "JOBSTREAM_VECTOR_INDEX_MIN_ROWS": "100",
}


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    await reset_table(stack)
    return await make_topics(stack, partitions=3)


@pytest.fixture
def worker(topics: Topics, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(topics, tmp_path, **ENV).start()
    yield proc
    if proc.alive():
        proc.terminate()


async def maintenance_run(topics: Topics) -> tuple[int, dict[str, Any], str]:
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "infra",
        "maintenance",
        "run",
        "--json",
        cwd=ROOT,
        env=topics.env(**ENV),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, json.loads(out or b"{}"), err.decode()


async def test_maintenance_by_hand_and_from_the_scheduler(
    stack: Settings, topics: Topics, worker: WorkerProcess
) -> None:
    started = time.monotonic()
    rng = np.random.default_rng(9)
    events = [posting(f"m{i}", 1, rng) for i in range(300)] + [deleted("m0", 2)]
    await produce(stack, topics.postings, [*encoded(events), (b"bad", b"\xff not protobuf")])
    await read_all(stack, topics.dead_letters, expect=1, timeout=30)
    await wait_caught_up(topics, timeout=60)

    # By hand: redrives the retryable letter (it fails again: its bytes are still bad),
    # vacuums, builds the vector index (300 rows >= 100), reports the counts.
    code, report, err = await maintenance_run(topics)
    assert code == 0, err  # every step ran (a letter failing again is reported, not an error)
    assert report["errors"] == [], report
    assert report["retryable_classes"] == ["undecodable"], report
    assert report["redriven"] == 1, report
    assert report["redrive_failed_again"] == 1, report
    assert (report["postings"], report["live_postings"], report["tombstones"]) == (300, 299, 1)
    assert report["dead_letters"] == 2, report
    assert report["consumer_lag"] == 0, report
    assert report["vector_index"], report

    # From the scheduler: the worker (the leader: it owns partition 0) fires at the next
    # minute boundary in Europe/Berlin time; the run logs its report.
    def fired() -> dict[str, Any] | None:
        logs = worker.logs()
        began = [x for x in logs if x.get("event") == "maintenance started"]
        done = [x for x in logs if x.get("event") in ("maintenance report", "maintenance skipped")]
        return done[-1] if began and done else None

    deadline = time.monotonic() + 75
    while (entry := fired()) is None:
        assert worker.alive(), worker.tail()
        assert time.monotonic() < deadline, worker.tail()
        await asyncio.sleep(0.5)
    began = next(x for x in worker.logs() if x.get("event") == "maintenance started")
    assert began["trigger"] == "schedule"
    assert began["cron"] == "* * * * *"
    assert began["timezone"] == "Europe/Berlin"
    if entry["event"] == "maintenance report":  # not overlapping the run by hand
        assert entry["postings"] == 300, entry
        assert entry["redriven"] == 1, entry  # the failed-again copy, once more
    assert time.monotonic() - started < 100


async def test_maintenance_refuses_a_second_run_and_names_a_missing_database(
    stack: Settings, topics: Topics
) -> None:
    import asyncpg

    from schemas.db.locks import AdvisoryLock

    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.MAINTENANCE)
        code, _, err = await maintenance_run(topics)
        assert code == 4, err
        assert "another maintenance run is already running" in err
    finally:
        await conn.close()
