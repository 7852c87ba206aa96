"""Admin mutations on the real stack: UNAUTHENTICATED without the token; with it, a worker
runs what the CLI runs (redrive, maintenance) and the API returns its report."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from api.operations import OperationClient, OperationUnavailable
from schemas.settings import Settings
from tests.support.api import ADMIN_TOKEN, app_settings, reset_redis, running_api
from tests.support.sink import (
    Topics,
    WorkerProcess,
    encoded,
    make_topics,
    posting,
    produce,
    read_all,
    reset_table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration

REDRIVE = """
mutation R($limit: Int, $errorClass: String) {
  redriveDeadLetters(limit: $limit, errorClass: $errorClass) { id kind ok error worker report }
}
"""
MAINTENANCE = "mutation { runMaintenance { id kind ok error worker report } }"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def create_topic(settings: Settings, name: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    await reset_table(stack)
    await reset_redis(stack)
    topics = await make_topics(stack, partitions=3)
    await create_topic(stack, f"{topics.group}.ops")
    return topics


@pytest.fixture
def worker(topics: Topics, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(topics, tmp_path, JOBSTREAM_TOPIC_OPERATIONS=f"{topics.group}.ops")
    proc.start()
    yield proc
    if proc.alive():
        proc.terminate()


async def test_admin_mutations_need_the_token_and_run_on_a_worker(
    stack: Settings, topics: Topics, worker: WorkerProcess
) -> None:
    rng = np.random.default_rng(3)
    good = [posting(f"a{i}", 1, rng) for i in range(20)]
    await produce(stack, topics.postings, [*encoded(good), (b"bad-1", b"\xff\x00 not protobuf")])
    await read_all(stack, topics.dead_letters, expect=1, timeout=30)
    await wait_caught_up(topics, timeout=60)
    settings = app_settings(stack, topics, embedder="hash", topic_operations=f"{topics.group}.ops")

    async with running_api(settings) as api:
        for query, variables in [(REDRIVE, {"limit": 1}), (MAINTENANCE, None)]:
            for headers in [{}, {"authorization": "Bearer wrong"}]:
                errors = await api.errors(query, variables, headers)
                assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", errors

        errors = await api.errors(REDRIVE, {"limit": -1}, ADMIN)
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors

        # Redrive: the letter is re-produced, fails again (its bytes are still bad), and
        # is in the ledger, so a second redrive skips it (only its new failed-again copy,
        # redriven once so far, is still eligible).
        first = (await api.gql(REDRIVE, {"errorClass": "undecodable"}, ADMIN))["redriveDeadLetters"]
        assert first["kind"] == "redrive"
        assert first["error"] is None, first
        assert first["report"]["executed"] is True
        assert first["report"]["redriven"] == 1, first["report"]
        assert first["report"]["failed_again"] == 1, first["report"]
        assert first["ok"] is False
        second = (await api.gql(REDRIVE, {"errorClass": "undecodable"}, ADMIN))[
            "redriveDeadLetters"
        ]
        assert second["report"]["skipped"] == {"already_redriven": 1}, second["report"]
        assert [x["letter"] for x in second["report"]["letters"]] == ["0:1"], second["report"]

        done = (await api.gql(MAINTENANCE, None, ADMIN))["runMaintenance"]
        assert done["kind"] == "maintenance"
        assert done["ok"] is True, done
        report = done["report"]
        assert report["postings"] == len(good), report
        assert report["dead_letters"] == 3, report  # the original and two failed redrives
        assert report["retryable_classes"] == [], report  # undecodable is not retryable
        assert report["consumer_lag"] == 0, report
        assert done["worker"], done


async def test_no_worker_answering_is_a_clear_error(stack: Settings, topics: Topics) -> None:
    nobody = f"{topics.group}.nobody-{uuid.uuid4().hex[:6]}"
    await create_topic(stack, nobody)
    settings = app_settings(stack, topics, embedder="hash", topic_operations=nobody)
    with pytest.raises(OperationUnavailable, match="no worker answered") as info:
        await OperationClient(settings, timeout_s=2).run("maintenance")
    assert "jobstream up --workers 1" in str(info.value)
