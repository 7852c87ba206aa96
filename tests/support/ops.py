"""Helpers for the log-operations tests (offsets, group, replay): settings for a test's
private topics, the CLI as a subprocess, table snapshots, group polling."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from schemas.settings import Settings
from streams.ops.errors import OpsError
from streams.ops.group import GroupState, describe_group
from streams.ops.offsets import show_offsets
from tests.support.sink import ROOT, Topics

PYTHON = sys.executable


def ops_settings(topics: Topics) -> Settings:
    """The stack's settings pointed at the test's topics and group."""
    return topics.settings.model_copy(
        update={
            "topic_postings": topics.postings,
            "topic_dead_letters": topics.dead_letters,
            "topic_invalidations": topics.invalidations,
            "consumer_group": topics.group,
            "topic_partitions": topics.partitions,
        }
    )


async def cli(topics: Topics, *args: str, **env: str) -> tuple[int, str, str]:
    """``python -m infra <args>`` with the test's topics; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "infra",
        *args,
        cwd=ROOT,
        env={**topics.env(), "COLUMNS": "200", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def cli_json(topics: Topics, *args: str, **env: str) -> Any:
    code, out, err = await cli(topics, *args, "--json", **env)
    assert code == 0, f"exit {code}: {err}\n{out}"
    return json.loads(out)


async def snapshot(settings: Settings) -> dict[str, tuple[Any, ...]]:
    """Every column of every row, updated_at included: a reprocessed record that rewrote a
    row (even with equal content) would show."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch("SELECT *, embedding::text AS e FROM postings ORDER BY id")
    finally:
        await conn.close()
    return {r["id"]: tuple((k, v) for k, v in r.items() if k != "embedding") for r in rows}


async def wait_group(
    settings: Settings, predicate: Any, *, timeout: float = 60.0, what: str = "group"
) -> GroupState:
    deadline = time.monotonic() + timeout
    state = await describe_group(settings)
    while time.monotonic() < deadline:
        state = await describe_group(settings)
        if predicate(state):
            return state
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {state}")


def partitions_by_member(state: GroupState, topic: str) -> list[list[int]]:
    return sorted(m.partitions.get(topic, []) for m in state.members)


def env_of(topics: Topics) -> dict[str, str]:
    return {k: v for k, v in topics.env().items() if k.startswith("JOBSTREAM_")} | {
        "PATH": os.environ.get("PATH", "")
    }


def write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


async def committed_and_end(topics: Topics) -> tuple[dict[int, int], dict[int, int]]:
    """(committed offset per postings partition, log end per partition) -- only the test's
    postings topic: the group also commits on other topics (the operations topic)."""
    report = await show_offsets(ops_settings(topics), topic=topics.postings)
    committed = {p.partition: p.committed for p in report.partitions if p.committed is not None}
    return committed, {p.partition: p.log_end for p in report.partitions}


async def wait_caught_up(topics: Topics, *, timeout: float = 60.0) -> None:
    """Until the group's committed offsets equal the log end on every postings partition."""
    deadline = time.monotonic() + timeout
    committed: dict[int, int] = {}
    ends: dict[int, int] = {}
    while time.monotonic() < deadline:
        try:
            committed, ends = await committed_and_end(topics)
        except OpsError:  # the group does not exist until its first commit
            committed, ends = {}, {}
        if ends and all(committed.get(p, 0) == end for p, end in ends.items()):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not caught up after {timeout}s: committed {committed}, end {ends}")
