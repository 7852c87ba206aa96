"""No record can stall the sink: hostile records written straight to postings.v1 by
another client are dead-lettered once, the worker stays up and the records after them
land."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
from aiokafka import AIOKafkaProducer

from schemas.domain import encode_event
from schemas.kafka import MAX_MESSAGE_BYTES
from schemas.settings import Settings
from schemas.topics import CONTENT_TYPE_PACK
from streams import dead_letters as dl
from tests.support.sink import (
    Topics,
    WorkerProcess,
    make_topics,
    pack_of,
    posting,
    read_all,
    reset_table,
    table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    await reset_table(stack)
    return await make_topics(stack, partitions=1)


@pytest.fixture
def worker(topics: Topics, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(topics, tmp_path).start()
    yield proc
    if proc.alive():
        proc.kill9()


@pytest.fixture
async def hostile(stack: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """Another client: a plain producer allowed records as large as the topic takes."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, max_request_size=MAX_MESSAGE_BYTES
    )
    await producer.start()
    yield producer
    await producer.stop()


async def test_hostile_records_are_dead_lettered_once_and_the_sink_moves_on(
    stack: Settings, topics: Topics, worker: WorkerProcess, hostile: AIOKafkaProducer
) -> None:
    rng = np.random.default_rng(11)
    pack_header = [("content-type", CONTENT_TYPE_PACK.encode())]
    million = pack_of([b""] * 1_000_000)  # 2 MB, a million members
    big_headers = [("x-junk", b"j" * (7 * 1024 * 1024)), *[("x-pad", b"p" * 60_000)] * 10]
    before, after = posting("before", 1, rng), posting("after", 1, rng)
    for key, value, headers in [
        (b"before", encode_event(before), []),
        (None, million, pack_header),
        (b"bad", b"\xff not a posting event", big_headers),
        (b"after", encode_event(after), []),
    ]:
        await (await hostile.send(topics.postings, value, key=key, headers=headers, partition=0))

    await wait_caught_up(topics, timeout=90)
    assert worker.alive(), worker.tail()
    assert set(await table(stack)) == {"before", "after"}

    letters = await read_all(stack, topics.dead_letters, expect=2, timeout=15)
    assert len(letters) == 2  # one letter per record, not a million
    pack_letter, header_letter = (dict(r.headers) for r in letters)
    assert pack_letter[dl.H_ERROR_CLASS] == b"pack_too_large"
    assert b"JOBSTREAM_PACK_MAX_EVENTS" in pack_letter[dl.H_ERROR_MESSAGE]
    assert letters[0].value == million  # the original bytes, whole
    assert header_letter[dl.H_ERROR_CLASS] == b"undecodable"
    assert header_letter[dl.H_OFFSET] == b"2"
    assert letters[1].value == b"\xff not a posting event"
    assert b"dropped" in header_letter[dl.H_HEADERS_TRUNCATED]
    assert "x-junk" not in header_letter
    assert sum(len(k) + len(v or b"") for k, v in letters[1].headers) <= dl.LETTER_MAX_BYTES
    dead_lettered = [line for line in worker.logs() if line.get("event") == "dead-lettered"]
    assert len(dead_lettered) == 2
