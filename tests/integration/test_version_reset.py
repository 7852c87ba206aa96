"""Runaway versions are recoverable: a posting locked by ``deletePosting(id, 2^63-1)`` is
reset through an event in the log (the admin mutation or ``jobstream postings
reset-version``), later versions land and are served again, and a rebuild from the log
arrives at the same row."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas.settings import Settings
from streams.rebuild.run import rebuild
from tests.support.api import (
    ADMIN_TOKEN,
    DELETE,
    POSTING,
    Api,
    app_settings,
    corpus_topics,
    running_api,
    wait_until,
)
from tests.support.corpus import CORPUS
from tests.support.provision import PUBLISH_HEADERS
from tests.support.sink import Topics, WorkerProcess

pytestmark = pytest.mark.integration

RUNAWAY = 2**63 - 1
ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN_TOKEN}"}
RESET = """
mutation Reset($id: ID!, $version: Long!) {
  resetPostingVersion(id: $id, version: $version) {
    accepted { id version } errors { field code message }
  }
}
"""


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    return await corpus_topics(stack)


@pytest.fixture
def worker(topics: Topics, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(topics, tmp_path).start()
    yield proc
    if proc.alive():
        proc.kill9()


@pytest.fixture
async def api(stack: Settings, topics: Topics, worker: WorkerProcess) -> AsyncIterator[Api]:
    async with running_api(app_settings(stack, topics, embedder="hash")) as api:
        yield api


async def row(stack: Settings, posting_id: str) -> tuple[int, bool] | None:
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        found = await conn.fetchrow(
            "SELECT version, deleted FROM postings WHERE id = $1", posting_id
        )
    finally:
        await conn.close()
    return None if found is None else (found["version"], found["deleted"])


async def until_row(stack: Settings, posting_id: str, expected: tuple[int, bool]) -> None:
    async def holds() -> bool:
        return await row(stack, posting_id) == expected

    await wait_until(holds, timeout=30, what=f"{posting_id} at {expected}", interval=0.2)


async def cli(topics: Topics, *args: str) -> subprocess.CompletedProcess[str]:
    """``jobstream ARGS`` in a subprocess on the test's topics."""
    env = {**os.environ, "JOBSTREAM_TOPIC_POSTINGS": topics.postings, "COLUMNS": "200"}
    command = [sys.executable, "-m", "infra", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
    )


async def served(api: Api, posting_id: str) -> dict[str, Any] | None:
    data = await api.gql(POSTING, {"id": posting_id})
    found: dict[str, Any] | None = data["posting"]
    return found


async def test_a_runaway_version_is_reset_through_the_log_and_later_versions_land(
    stack: Settings, topics: Topics, api: Api
) -> None:
    doc = CORPUS[0]
    assert (await api.publish(doc.input(version=1)))["errors"] == []
    await until_row(stack, doc.id, (1, False))

    # The lock: a tombstone at 2^63-1; no later version can replace it.
    locked = await api.gql(DELETE, {"id": doc.id, "version": RUNAWAY}, PUBLISH_HEADERS)
    assert locked["deletePosting"]["errors"] == []
    await until_row(stack, doc.id, (RUNAWAY, True))
    assert (await api.publish(doc.input(version=2)))["errors"] == []

    # Only an admin key may reset; a publisher may not.
    errors = await api.errors(RESET, {"id": doc.id, "version": 1}, PUBLISH_HEADERS)
    assert "lacks the `admin` scope" in errors[0]["message"]
    bad = await api.gql(RESET, {"id": doc.id, "version": 0}, ADMIN_HEADERS)
    assert bad["resetPostingVersion"]["errors"][0]["field"] == "version"
    reset = await api.gql(RESET, {"id": doc.id, "version": 1}, ADMIN_HEADERS)
    assert reset["resetPostingVersion"] == {
        "accepted": {"id": doc.id, "version": 1},
        "errors": [],
    }
    await until_row(stack, doc.id, (1, True))  # the guard is back; still a tombstone

    later = doc.input(version=2, title="Back after the reset")
    assert (await api.publish(later))["errors"] == []
    await until_row(stack, doc.id, (2, False))

    async def shown() -> bool:
        return await served(api, doc.id) == {
            "id": doc.id,
            "version": 2,
            "title": "Back after the reset",
        }

    await wait_until(shown, timeout=10, what="the new version served")

    # Again, from the CLI this time.
    await api.gql(DELETE, {"id": doc.id, "version": RUNAWAY}, PUBLISH_HEADERS)
    await until_row(stack, doc.id, (RUNAWAY, True))
    ok = await cli(topics, "postings", "reset-version", doc.id, "--to", "5")
    assert ok.returncode == 0, ok.stderr
    assert f"reset posting {doc.id!r} to version 5" in ok.stdout
    refused = await cli(topics, "postings", "reset-version", doc.id, "--to", "0")
    assert refused.returncode == 2
    assert "version must be between 1 and 9223372036854775807" in refused.stderr
    await until_row(stack, doc.id, (5, True))
    assert (await api.publish(doc.input(version=6, title="Six")))["errors"] == []
    await until_row(stack, doc.id, (6, False))

    # The log is the truth: a rebuild replays the locks and resets in order.
    await rebuild(app_settings(stack, topics, embedder="hash", consumer_group=topics.group))
    assert await row(stack, doc.id) == (6, False)
