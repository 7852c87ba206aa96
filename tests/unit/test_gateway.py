"""Unit tests of the gateway's pure parts: budgets, record layouts, auth, sequences,
batch validation, input sources and the produce tally."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner

from gateway.auth import metadata_value
from gateway.budget import Budget
from gateway.client import default_producer_id
from gateway.kafka_writer import pack_events, split_packs
from gateway.sequences import Acked, decode_record, encode_record
from gateway.service import PRODUCER_ID_PATTERN
from gateway.sources import count_lines, parse_line, read_ndjson
from gateway.validation import check_batch, encode_stamped
from gateway.wire import Undecodable, lenient
from schemas.domain import encode_event, from_json, validate_event
from schemas.domain.timestamps import to_timestamp
from schemas.jobstream.v1 import ingest_pb2, posting_pb2
from schemas.topics import partition_for
from tests.support.gateway import sample_event, sample_json

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


# --- Budget -------------------------------------------------------------------------


async def test_budget_blocks_until_released_and_is_fifo() -> None:
    budget = Budget(10)
    assert await budget.acquire(8) == 8
    order: list[str] = []

    async def take(name: str, n: int) -> None:
        await budget.acquire(n)
        order.append(name)

    big = asyncio.create_task(take("big", 5))
    await asyncio.sleep(0)
    small = asyncio.create_task(take("small", 1))  # fits now, but must not overtake "big"
    await asyncio.sleep(0.01)
    assert order == []
    budget.release(8)
    await asyncio.gather(big, small)
    assert order == ["big", "small"]
    assert budget.in_use == 6


async def test_budget_clamps_oversized_requests_and_survives_cancellation() -> None:
    budget = Budget(4)
    assert await budget.acquire(1000) == 4
    waiter = asyncio.create_task(budget.acquire(2))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    budget.release(4)
    assert budget.in_use == 0
    assert await budget.acquire(0) == 1  # an empty batch still counts once


# --- record layouts -----------------------------------------------------------------------


def test_partition_for_matches_kafkas_default_partitioner() -> None:
    partitioner = DefaultPartitioner()
    rng = random.Random(5)
    for _ in range(500):
        key = "".join(rng.choice("abcXYZ019:._-") for _ in range(rng.randint(1, 40))).encode()
        for count in (1, 3, 6, 12):
            parts = list(range(count))
            assert partition_for(key, count) == partitioner(key, parts, parts)


def test_pack_is_exactly_a_posting_event_pack() -> None:
    encoded = [sample_event(i).SerializeToString() for i in range(5)]
    encoded.append(posting_pb2.PostingEvent(id="d", version=2, deleted=True).SerializeToString())
    pack = posting_pb2.PostingEventPack.FromString(pack_events(encoded))
    assert [e.SerializeToString() for e in pack.events] == encoded
    assert (
        pack_events(encoded)
        == posting_pb2.PostingEventPack(
            events=[posting_pb2.PostingEvent.FromString(e) for e in encoded]
        ).SerializeToString()
    )


def test_split_packs_keeps_order_and_size() -> None:
    items = [bytes([i % 256]) * (100 + i * 37) for i in range(200)]
    groups = split_packs(items, 10_000, max_bytes=4096)
    assert [x for g in groups for x in g] == items
    assert all(len(pack_events(g)) <= 4096 for g in groups if len(g) > 1)
    assert split_packs([b"x" * 10_000], 10, max_bytes=100) == [[b"x" * 10_000]]  # alone if huge


def test_split_packs_keeps_to_the_member_cap() -> None:
    items = [b"e"] * 25
    assert [len(g) for g in split_packs(items, 10)] == [10, 10, 5]


# --- auth ---------------------------------------------------------------------------------


def test_metadata_value() -> None:
    md = (("x-producer-id", "p1"), ("authorization", b"Bearer t"))
    assert metadata_value(md, "x-producer-id") == "p1"
    assert metadata_value(md, "authorization") == "Bearer t"
    assert metadata_value(md, "missing") is None
    assert metadata_value(None, "x") is None


def test_producer_ids() -> None:
    assert default_producer_id("file:/a") == default_producer_id("file:/a")
    assert default_producer_id("file:/a") != default_producer_id("file:/b")
    assert default_producer_id() != default_producer_id()
    for pid in (default_producer_id("x"), default_producer_id(), "svc@host/1"):
        assert PRODUCER_ID_PATTERN.fullmatch(pid)
    assert not PRODUCER_ID_PATTERN.fullmatch("has space")


# --- sequences ----------------------------------------------------------------------------


def test_sequence_records_round_trip_and_bad_ones_are_skipped() -> None:
    key, value = encode_record("prod-1", 42, "0123456789ab")
    assert decode_record(key, value) == ("prod-1", Acked(42, "0123456789ab"))
    assert json.loads(value)["sequence"] == 42
    legacy = b'{"producer_id": "prod-1", "sequence": 7}'  # before keys: bound by the next writer
    assert decode_record(key, legacy) == ("prod-1", Acked(7, None))
    assert decode_record(key, None) == ("prod-1", None)  # tombstone
    assert decode_record(None, value) is None
    for bad in (b"nope", b'{"sequence": "7"}', b'{"sequence": -1}', b'{"sequence": true}', b"[]"):
        assert decode_record(key, bad) is None


def test_lenient_deserializer() -> None:
    parse = lenient(ingest_pb2.IngestBatch)
    good = ingest_pb2.IngestBatch(sequence=3).SerializeToString()
    assert parse(good).sequence == 3
    bad = parse(b"\xff\xff\xff\xff")
    assert isinstance(bad, Undecodable)
    assert bad.size == 4


# --- batch validation ---------------------------------------------------------------------


def test_check_batch_accepts_valid_rejects_invalid_and_duplicates() -> None:
    good = [sample_event(i) for i in range(3)]
    bad = sample_event(9)
    bad.version = -1
    update = sample_event(1, version=2)
    again = sample_event(1, version=2)
    checked = check_batch(
        [good[0], bad, good[1], update, again, good[2]], dim=384, producer_id="p", now=NOW
    )
    assert [pid for pid, _ in checked.accepted] == ["test:0", "test:1", "test:1", "test:2"]
    assert [(r.index, ingest_pb2.RejectReason.Name(r.reason)) for r in checked.rejections] == [
        (1, "INVALID_VERSION"),
        (4, "DUPLICATE_IN_BATCH"),
    ]
    event = validate_event(posting_pb2.PostingEvent.FromString(checked.accepted[0][1]), dim=384)
    assert event.producer_id == "p"
    assert event.produced_at == NOW


def test_rejection_ids_are_bounded() -> None:
    huge = sample_event(0)
    huge.id = "x" * 100_000
    [rejection] = check_batch([huge], dim=384, producer_id="p", now=NOW).rejections
    assert len(rejection.id) == 200
    assert len(rejection.message) < 1000


def test_encode_stamped_equals_the_encode_event_path() -> None:
    for msg in (sample_event(3), posting_pb2.PostingEvent(id="gone", version=4, deleted=True)):
        event = validate_event(msg, dim=384)
        expected = encode_event(dataclasses.replace(event, produced_at=NOW, producer_id="p"))
        assert encode_stamped(event, "p", to_timestamp(NOW)) == expected


def test_revalidation_is_deterministic() -> None:
    batch = [sample_event(i) for i in range(5)] + [posting_pb2.PostingEvent(id="")]
    first = check_batch(batch, dim=384, producer_id="p", now=NOW)
    second = check_batch(batch, dim=384, producer_id="p", now=NOW)
    assert first == second


# --- input sources ------------------------------------------------------------------------


def test_parse_line() -> None:
    ok = parse_line(json.dumps(sample_json(1)), "line 1")
    assert ok.event is not None
    assert ok.event == from_json(sample_json(1))
    broken = parse_line('{"id": "a", ', "line 2")
    assert broken.rejection is not None
    assert broken.rejection.reason == "MALFORMED_JSON"
    assert broken.rejection.message.startswith("line 2: ")
    shape = parse_line(json.dumps(sample_json(2, titel="typo")), "line 3")
    assert shape.rejection is not None
    assert shape.rejection.reason == "INVALID_FIELD"
    assert "titel" in shape.rejection.message
    assert shape.rejection.id == "test:2"
    not_object = parse_line("[1, 2]", "line 4")
    assert not_object.rejection is not None
    deep = parse_line("[" * 100_000, "line 5")
    assert deep.rejection is not None


def test_read_ndjson_numbers_lines_and_skips_blanks(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    path.write_bytes(
        (json.dumps(sample_json(1)) + "\n\n   \nnot json\n").encode()
        + b'{"id": "\xff\xfe"}\n'
        + json.dumps(sample_json(2)).encode()
    )
    items = list(read_ndjson(path))
    assert [i.label for i in items] == ["line 1", "line 4", "line 5", "line 6"]
    assert [i.event is not None for i in items] == [True, False, False, True]
    assert count_lines(path) == 4
