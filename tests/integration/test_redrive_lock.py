"""One redrive at a time, whoever starts it: the CLI, the admin operation's worker and the
maintenance job take the same advisory lock, so no letter is redriven twice."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np
import pytest

from schemas.domain import encode_event
from schemas.jobstream.v1 import ops_pb2
from schemas.settings import Settings
from streams import dead_letters as dl
from streams.maintenance.job import run_maintenance
from streams.maintenance.operations import run_operation
from streams.ops.errors import EXIT_BUSY, AlreadyRunning
from streams.ops.ledger import ledger_topic
from streams.ops.redrive import redrive, redrive_lock
from tests.support.ops import cli, ops_settings
from tests.support.sink import make_topics, posting, produce, read_all

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LETTERS = 30


async def _dead_letters(settings: Settings, topic: str, postings_topic: str) -> None:
    """LETTERS retryable dead letters (a CHECK violation since fixed) written straight to
    the DLQ, each pointing at a made-up original coordinate."""
    rng = np.random.default_rng(5)
    records = []
    for i in range(LETTERS):
        event = posting(f"lock{i:03d}", 1, rng)
        headers = [
            (dl.H_ERROR_CLASS, b"db_check_violation"),
            (dl.H_TOPIC, postings_topic.encode()),
            (dl.H_PARTITION, b"0"),
            (dl.H_OFFSET, str(i).encode()),
        ]
        records.append((event.id.encode(), encode_event(event), headers))
    await produce(settings, topic, records)


async def test_two_concurrent_redrives_one_runs_and_the_ledger_has_each_letter_once(
    stack: Settings,
) -> None:
    topics = await make_topics(stack, partitions=3)
    settings = ops_settings(topics)
    await _dead_letters(stack, topics.dead_letters, topics.postings)

    outcomes = await asyncio.gather(
        redrive(settings, execute=True, wait_s=0),
        redrive(settings, execute=True, wait_s=0),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, AlreadyRunning)]
    reports = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(refused) == 1, outcomes
    assert "already running" in refused[0].message
    assert refused[0].exit_code == EXIT_BUSY
    assert [r.redriven for r in reports] == [LETTERS]

    ledger = await read_all(stack, ledger_topic(settings), expect=LETTERS, timeout=5)
    assert Counter(r.key for r in ledger).most_common(1)[0][1] == 1
    assert len(ledger) == LETTERS
    copies = await read_all(stack, topics.postings, expect=LETTERS, timeout=5)
    assert len(copies) == LETTERS  # each letter re-produced once

    # A run after the first has finished redrives nothing: the lock is released.
    again = await redrive(settings, execute=True, wait_s=0)
    assert again.redriven == 0
    assert again.skipped["already_redriven"] == LETTERS


async def test_every_redrive_entry_point_is_refused_while_one_runs(stack: Settings) -> None:
    """CLI (exit 4), the admin operation (its error names the cause) and the maintenance
    job (its redrive step fails, the other steps run) while the lock is held."""
    topics = await make_topics(stack, partitions=3)
    settings = ops_settings(topics)
    await _dead_letters(stack, topics.dead_letters, topics.postings)

    async with redrive_lock(settings):
        code, _out, err = await cli(topics, "replay", "--from-dlq", "--execute", "--wait", "0")
        assert code == EXIT_BUSY, err
        assert "already running" in err

        request = ops_pb2.OperationRequested(
            id="op-lock", kind=ops_pb2.OPERATION_KIND_REDRIVE_DEAD_LETTERS
        )
        with pytest.raises(AlreadyRunning, match="already running"):
            await run_operation(settings, request)

        report = await run_maintenance(settings)
        assert report.redriven == 0
        assert any("redrive" in e and "already running" in e for e in report.errors), report

        dry = await redrive(settings, execute=False)  # a dry run changes nothing: no lock
        assert dry.selected == LETTERS
    assert await read_all(stack, topics.postings, expect=0, timeout=2) == []
