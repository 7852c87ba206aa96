"""A producer that bypasses the gateway (kcat, Kafka Connect, another service) and writes
JSON: the sink dead-letters it with a reason naming the protobuf contract, and
``jobstream dlq list`` shows the posting id from the key and the whole reason on an
80-column terminal (docs/record-contract.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from schemas.domain import encode_event, to_json
from schemas.settings import Settings
from tests.support.ops import cli, cli_json
from tests.support.sink import (
    WorkerProcess,
    make_topics,
    posting,
    produce,
    read_all,
    reset_table,
    table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration

ONLY_PROTOBUF = "postings.v1 accepts only protobuf, a jobstream.v1.PostingEvent"


async def test_json_from_a_producer_that_bypasses_the_gateway_is_dead_lettered_naming_the_contract(
    stack: Settings, tmp_path: Path
) -> None:
    await reset_table(stack)
    topics = await make_topics(stack, partitions=3)
    rng = np.random.default_rng(15)
    as_json = json.dumps(to_json(posting("json-1", 1, rng)), default=str).encode()
    await produce(
        stack,
        topics.postings,
        [
            (b"json-1", as_json),  # kcat -P -k json-1: no headers at all
            (b"json-2", as_json, [("content-type", b"application/json")]),  # Kafka Connect
            (b"good-1", encode_event(posting("good-1", 1, rng))),
        ],
    )
    worker = WorkerProcess(topics, tmp_path).start()
    try:
        await wait_caught_up(topics, timeout=90)
    finally:
        worker.kill9()
    assert set(await table(stack)) == {"good-1"}  # the JSON changed nothing, the rest landed

    letters = {r.key: dict(r.headers) for r in await read_all(stack, topics.dead_letters, expect=2)}
    assert set(letters) == {b"json-1", b"json-2"}
    for headers in letters.values():
        assert headers["x-error-class"] == b"unsupported_format"
        reason = headers["x-error-message"].decode()
        assert ONLY_PROTOBUF in reason
        assert "jobstream.v1.PostingEventPack" in reason
        assert reason.endswith("see docs/record-contract.md")
    reasons = [letters[k]["x-error-message"].decode() for k in (b"json-1", b"json-2")]
    assert reasons[0].startswith("the value is JSON: ")
    assert reasons[1].startswith("content-type 'application/json': ")

    listed = await cli_json(topics, "dlq", "list")
    assert {r["posting_id"] for r in listed["letters"]} == {"json-1", "json-2"}  # from the key
    code, out, err = await cli(topics, "dlq", "list", COLUMNS="80")
    assert code == 0, err
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in out
    assert "json-1" in out
    assert "json-2" in out
    why = "".join("".join(line.split("│")[-2].split()) for line in lines if line.count("│") == 5)
    for reason in reasons:  # whole, wrapped and folded (compared without the line breaks)
        assert "".join(reason.split()) in why
    code, out, err = await cli(topics, "dlq", "list", "--wide", COLUMNS="80")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == 2  # one line per letter, the reason on it whole
    assert all(any(reason in row for row in rows) for reason in reasons)
