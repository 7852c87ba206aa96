"""The sink's pure parts: checkpoints, record decoding, dedupe, error classes, DLQ headers."""

from __future__ import annotations

import asyncio
import inspect
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotEnoughReplicasError,
)

from schemas.db.postings import posting_row
from schemas.domain import Location, Posting, PostingDeleted, VersionReset, encode_event
from schemas.domain.model import EmploymentType, EnglishLevel, RemoteMode
from schemas.jobstream.v1 import events_pb2, posting_pb2
from schemas.topics import CONTENT_TYPE_PACK
from streams import dead_letters as dl
from streams.checkpointing import Checkpoints
from streams.dead_letters import dead_letter_headers, letter_key
from streams.index import IndexPolicy
from streams.invalidations import Changed, build_invalidation
from streams.sink import sql
from streams.sink.batch import dedupe, rounds
from streams.sink.errors import error_class, is_connection_error, is_poison, is_transient
from streams.sink.records import (
    RECORD_CONTRACT,
    Decoded,
    Poison,
    Record,
    chunks,
    decode_records,
    event_count,
    partition_for,
    split_pack,
)
from streams.sink.retry import retry_transient

TP = ("postings.v1", 0)


def posting(pid: str, version: int = 1) -> Posting:
    v = np.random.default_rng(abs(hash(pid)) % 2**32).normal(size=8).astype(np.float32)
    return Posting(
        id=pid,
        version=version,
        title="T",
        company="C",
        location=Location("Berlin", "DE"),
        remote_mode=RemoteMode.REMOTE,
        employment_type=EmploymentType.CONTRACT,
        experience_min_years=0,
        experience_max_years=1,
        english_level=EnglishLevel.FLUENT,
        skills=("go",),
        salary=None,
        description="",
        posted_at=datetime(2026, 1, 1, tzinfo=UTC),
        embedding=v / np.linalg.norm(v),
        embedding_model="m",
    )


def record(
    key: bytes | None,
    value: bytes | None,
    offset: int = 0,
    *,
    partition: int = 0,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> Record:
    return Record("postings.v1", partition, offset, key, value, headers)


def pack(*members: bytes) -> bytes:
    """The members framed as a pack (field 1, varint length); a bytearray, since ``+=`` on
    bytes copies the whole pack per member (a million members took 27 s)."""
    out = bytearray()
    for m in members:
        size, length = len(m), b""
        while True:
            byte, size = size & 0x7F, size >> 7
            length += bytes([byte | (0x80 if size else 0)])
            if not size:
                break
        out += b"\x0a" + length + m
    return bytes(out)


# --- checkpoints ---------------------------------------------------------------------


def test_checkpoint_advances_only_over_a_contiguous_run_from_the_seek_position() -> None:
    cp = Checkpoints()
    cp.reset(TP, 100)
    assert cp.committable(TP) == 100
    cp.mark_done(TP, [101, 102])  # 100 not durable yet: nothing may be committed past it
    assert cp.committable(TP) == 100
    assert cp.waiting(TP) == 2
    cp.mark_done(TP, [100])
    assert cp.committable(TP) == 103
    assert cp.waiting(TP) == 0


def test_checkpoint_is_unknown_until_the_consumer_seeked_and_early_marks_are_kept() -> None:
    cp = Checkpoints()
    cp.mark_done(TP, [5, 6, 7])  # e.g. a batch that finished during a rebalance
    assert cp.committable(TP) is None
    assert cp.partitions() == []
    cp.reset(TP, 5)
    assert cp.committable(TP) == 8
    assert [tuple(p) for p in cp.partitions()] == [TP]


def test_a_reseek_never_moves_the_checkpoint_back_and_revocation_forgets() -> None:
    cp = Checkpoints()
    cp.reset(TP, 0)
    cp.mark_done(TP, range(10))
    cp.reset(TP, 4)  # Kafka's committed offset lags our proven progress
    assert cp.committable(TP) == 10
    cp.mark_done(TP, [3])  # a redelivered duplicate below the base is harmless
    assert cp.committable(TP) == 10
    cp.forget([("postings.v1", 0)])
    assert cp.committable(TP) is None


def test_checkpointed_consumer_overrides_faust_methods_that_still_exist() -> None:
    """The override targets must exist in the pinned faust-streaming, or we override air."""
    import faust
    from faust.transport.consumer import Consumer as FaustConsumer

    from streams.checkpointing.consumer import CheckpointedConsumer

    assert faust.__version__ == "0.15.3"
    for name in (
        "ack",
        "_filter_tps_with_pending_acks",
        "_new_offset",
        "seek_to_committed",
        "on_partitions_revoked",
    ):
        base = getattr(FaustConsumer, name)
        ours = getattr(CheckpointedConsumer, name)
        assert ours is not base
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(base).parameters
        ), name


def test_faust_acks_never_count_and_commits_come_from_checkpoints() -> None:
    from faust.types import TP as FaustTP

    from streams.checkpointing.consumer import CheckpointedConsumer

    consumer = CheckpointedConsumer.__new__(CheckpointedConsumer)
    consumer.checkpoints = Checkpoints()
    consumer._unacked_messages = set()

    class Message:
        acked = False

    skipped = Message()
    consumer._unacked_messages.add(skipped)
    assert consumer.ack(skipped) is False  # e.g. Faust "acking" an event it skipped
    assert skipped.acked
    assert not consumer._unacked_messages
    assert list(consumer._filter_tps_with_pending_acks()) == []

    tp = FaustTP("postings.v1", 2)
    consumer.checkpoints.reset(tp, 40)
    consumer.checkpoints.mark_done(tp, [40, 41])
    assert list(consumer._filter_tps_with_pending_acks()) == [tp]
    assert list(consumer._filter_tps_with_pending_acks({"other"})) == []
    assert consumer._new_offset(tp) == 42


# --- decoding --------------------------------------------------------------------------


def test_decode_sorts_valid_events_from_poison_with_error_classes() -> None:
    good = posting("a")
    bad_version = posting_pb2.PostingEvent(id="b", version=0).SerializeToString()
    records = [
        record(b"a", encode_event(good), 0),
        record(b"x", b"\xff\xff\xff", 1),
        record(b"n", None, 2),
        record(b"b", bad_version, 3),
        record(b"zz", encode_event(posting("c")), 4),
        record(b"d", encode_event(PostingDeleted("d", 7)), 5),
    ]
    decoded, poison = decode_records(records, dim=8, partitions=lambda _: None, pack_max=100)
    assert [(d.event.id, d.seq, d.record.offset) for d in decoded] == [("a", 0, 0), ("d", 1, 5)]
    assert [(p.record.offset, p.error_class) for p in poison] == [
        (1, "undecodable"),
        (2, "undecodable"),
        (3, "invalid_version"),
        (4, "key_mismatch"),
    ]
    assert all(p.value == records[p.record.offset].value for p in poison)


def test_pack_members_are_judged_one_by_one_and_keep_their_exact_bytes() -> None:
    home = partition_for("p1", 4)
    other = next(f"q{i}" for i in range(100) if partition_for(f"q{i}", 4) != home)
    members = [
        encode_event(posting("p1")),
        b"\x08\x96\x01garbage",
        encode_event(posting(other)),
        encode_event(PostingDeleted("p1", 2)),
    ]
    headers = (("content-type", CONTENT_TYPE_PACK.encode()),)
    rec = record(None, pack(*members), 9, partition=home, headers=headers)
    assert rec.is_pack
    assert list(split_pack(rec.value)) == members
    decoded, poison = decode_records([rec], dim=8, partitions=lambda _: 4, pack_max=100)
    assert [(d.event.id, d.event.version, d.pack_index) for d in decoded] == [
        ("p1", 1, 0),
        ("p1", 2, 3),
    ]
    assert [d.value for d in decoded] == [members[0], members[3]]
    assert [(p.pack_index, p.error_class, p.value) for p in poison] == [
        (1, "undecodable", members[1]),
        (2, "key_mismatch", members[2]),
    ]


def test_a_pack_that_is_not_a_pack_is_one_undecodable_record() -> None:
    headers = (("Content-Type", CONTENT_TYPE_PACK.encode()),)
    decoded, poison = decode_records(
        [record(None, b"\x12\x03abc", headers=headers)],
        dim=8,
        partitions=lambda _: 1,
        pack_max=100,
    )
    assert decoded == []
    assert [(p.error_class, p.pack_index) for p in poison] == [("undecodable", None)]


def test_json_or_another_declared_format_is_unsupported_and_names_the_contract() -> None:
    """A producer that bypassed the gateway: JSON by header or by sniffing, never when the
    bytes are a valid event under a protobuf content type."""
    as_json = b'{"id": "j1", "version": 1, "title": "T"}'
    protobuf = (("content-type", b"application/x-protobuf"),)
    records = [
        record(b"j1", as_json, 0),  # no header: sniffed once protobuf failed
        record(b"j2", b"[1, 2]", 1, headers=(("content-type", b"application/json"),)),
        record(b"j3", encode_event(posting("j3")), 2, headers=(("Content-Type", b"text/x"),)),
        record(b"j4", encode_event(posting("j4")), 3, headers=protobuf),
        record(b"j5", b"{not json", 4),
        record(b"j6", b"[" * 100_000, 5),  # deeper than json nests: not JSON, no crash
    ]  # fmt: skip
    decoded, poison = decode_records(records, dim=8, partitions=lambda _: None, pack_max=100)
    assert [d.event.id for d in decoded] == ["j4"]
    assert [(p.record.offset, p.error_class) for p in poison] == [
        (0, "unsupported_format"),
        (1, "unsupported_format"),
        (2, "unsupported_format"),
        (4, "undecodable"),
        (5, "undecodable"),
    ]
    assert poison[0].message.startswith("the value is JSON: postings.v1 accepts only protobuf")
    assert "content-type 'application/json'" in poison[1].message
    for p in poison[:3]:
        assert "jobstream.v1.PostingEvent" in p.message
        assert "jobstream.v1.PostingEventPack" in p.message
        assert p.message.endswith("see docs/record-contract.md")
        assert p.value == records[p.record.offset].value
    assert (Path(__file__).parents[2] / RECORD_CONTRACT).is_file()


def test_a_pack_over_the_member_cap_is_one_poison_record() -> None:
    headers = (("content-type", CONTENT_TYPE_PACK.encode()),)
    rec = record(None, pack(*[b""] * 1_000_000), 3, headers=headers)
    started = time.perf_counter()
    decoded, poison = decode_records([rec], dim=8, partitions=lambda _: 1, pack_max=10_000)
    assert time.perf_counter() - started < 1.0  # stops reading at the cap
    assert decoded == []
    assert [(p.error_class, p.pack_index, p.value) for p in poison] == [
        ("pack_too_large", None, rec.value)
    ]
    assert "more than 10000 events (JOBSTREAM_PACK_MAX_EVENTS)" in poison[0].message
    assert event_count(rec, 101) == 101
    assert [len(group) for group in chunks([rec, rec], 100)] == [1, 1]


def test_partition_for_matches_kafkas_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    for key in ("a", "posting-123", "Ω"):
        expected = DefaultPartitioner()(key.encode(), list(range(6)), list(range(6)))
        assert partition_for(key, 6) == expected


# --- dedupe ----------------------------------------------------------------------------


def test_dedupe_keeps_highest_version_earliest_on_ties_and_ranks_the_rest() -> None:
    events = [posting("a", 1), posting("a", 3), posting("b", 2), posting("a", 3), posting("a", 2)]
    decoded = [Decoded(e, record(None, None, i), i, None) for i, e in enumerate(events)]
    winners, fallbacks = dedupe(decoded)
    assert [(w.event.id, w.event.version, w.seq) for w in winners] == [("a", 3, 1), ("b", 2, 2)]
    assert [(d.event.version, d.seq) for d in fallbacks["a"]] == [(3, 3), (2, 4), (1, 0)]
    assert "b" not in fallbacks


def test_rounds_apply_version_resets_in_log_order() -> None:
    events = [
        PostingDeleted("a", 2**63 - 1),  # the runaway version
        posting("b", 4),
        VersionReset("a", 5),
        posting("a", 6),  # after the reset: a new round, so it is not stale
        posting("b", 7),
        VersionReset("c", 3),
        VersionReset("c", 2),  # the later reset of c wins
    ]
    decoded = [Decoded(e, record(None, None, i), i, None) for i, e in enumerate(events)]
    steps = rounds(decoded)
    shown = [
        (
            [(w.event.id, w.event.version) for w in step.winners],
            [(r.event.id, r.event.version) for r in step.resets],
        )
        for step in steps
    ]
    assert shown == [
        ([("a", 2**63 - 1), ("b", 4)], [("a", 5)]),
        ([("a", 6), ("b", 7)], [("c", 2)]),
    ]
    plain = [Decoded(posting("x", 1), record(None, None, 0), 0, None)]
    assert [len(step.winners) for step in rounds(plain)] == [1]  # no resets: one round


def test_staging_rows_match_the_staging_columns() -> None:
    for event in (posting("a"), PostingDeleted("b", 4)):
        row = (0, *posting_row(event))  # as the writer COPYs it
        assert len(row) == len(sql.STAGING_COLUMNS)
        named = dict(zip(sql.STAGING_COLUMNS, row, strict=True))
        assert named["id"] == event.id
        assert named["deleted"] is event.deleted
        assert list(named["skills"]) == ([] if event.deleted else ["go"])


# --- errors, retries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "poison", "transient"),
    [
        (asyncpg.CheckViolationError("no"), True, False),
        (asyncpg.NotNullViolationError("no"), True, False),
        (asyncpg.DataError("no"), True, False),
        (asyncpg.NumericValueOutOfRangeError("no"), True, False),
        (asyncpg.exceptions._base.DataError("cannot encode"), True, False),
        (asyncpg.SerializationError("retry"), False, True),
        (asyncpg.DeadlockDetectedError("retry"), False, True),
        (asyncpg.CannotConnectNowError("starting"), False, True),
        (asyncpg.TooManyConnectionsError("busy"), False, True),
        (asyncpg.AdminShutdownError("bye"), False, True),
        (asyncpg.ConnectionDoesNotExistError("gone"), False, True),
        # what the pool's reset raises for a connection that died mid-statement
        (asyncpg.InternalClientError("cannot switch to state 15"), False, True),
        (asyncpg.UndefinedTableError("migrations pending"), False, True),
        (ConnectionRefusedError(111, "refused"), False, True),
        (TimeoutError(), False, True),
        (KafkaConnectionError(), False, True),
        (KafkaTimeoutError(), False, True),
        (NotEnoughReplicasError(), False, True),
        (MessageSizeTooLargeError(), False, False),
        (ValueError("a bug"), False, False),
    ],
)
def test_error_classification(exc: BaseException, poison: bool, transient: bool) -> None:
    assert is_poison(exc) is poison
    assert is_transient(exc) is transient


def test_error_class_labels_and_connection_errors() -> None:
    assert error_class(asyncpg.CheckViolationError("x")) == "db_check_violation"
    assert error_class(asyncpg.StringDataRightTruncationError("x")) == (
        "db_string_data_right_truncation"
    )
    assert is_connection_error(asyncpg.ConnectionDoesNotExistError("x"))
    assert is_connection_error(OSError())
    assert not is_connection_error(asyncpg.SerializationError("x"))


async def test_a_lost_server_is_tried_again_within_half_a_second() -> None:
    """Whatever the backoff has grown to, a refused connection is retried within
    RECONNECT_MAX_S, so the first write after PostgreSQL returns is not seconds late;
    other transient errors keep backing off."""
    from streams.sink.retry import RECONNECT_MAX_S, retry_transient

    waits: dict[str, list[float]] = {"refused": [], "serialization": []}
    for kind, error in (
        ("refused", ConnectionRefusedError(111, "refused")),
        ("serialization", asyncpg.SerializationError("retry")),
    ):
        attempts = 0

        async def flaky(error: BaseException = error) -> int:
            nonlocal attempts
            attempts += 1
            if attempts <= 12:
                raise error
            return attempts

        async def no_sleep(seconds: float) -> None:
            waits[kind].append(seconds)  # noqa: B023

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("asyncio.sleep", no_sleep)
            assert await retry_transient(flaky, what="test", max_wait_s=30.0) == 13
    assert max(waits["refused"]) <= RECONNECT_MAX_S
    assert max(waits["serialization"]) > RECONNECT_MAX_S


async def test_retry_transient_retries_until_success_and_lets_bugs_through() -> None:
    calls: list[int] = []
    retried: list[BaseException] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset")
        return "ok"

    result = await retry_transient(flaky, what="t", max_wait_s=0.01, on_retry=retried.append)
    assert result == "ok"
    assert len(calls) == 3
    assert len(retried) == 2

    async def bug() -> None:
        calls.append(1)
        raise KeyError("bug")

    calls.clear()
    with pytest.raises(KeyError):
        await retry_transient(bug, what="t", max_wait_s=0.01)
    assert len(calls) == 1


# --- dead letters, invalidations, index policy ----------------------------------------


def test_dead_letter_headers_keep_the_original_and_say_why() -> None:
    rec = Record("postings.v1", 2, 77, b"k", b"v", (("trace", b"1"), ("content-type", b"x")))
    poison = Poison(rec, b"v", "undecodable", "bad bytes", attempts=3, first_failed_at=0.0)
    headers = dead_letter_headers(poison, group="g")
    assert headers[:2] == [("trace", b"1"), ("content-type", b"x")]
    h = dict(headers)
    assert h["x-error-class"] == b"undecodable"
    assert h["x-error-message"] == b"bad bytes"
    assert h["x-original-topic"] == b"postings.v1"
    assert h["x-original-partition"] == b"2"
    assert h["x-original-offset"] == b"77"
    assert h["x-first-failed-at"] == b"1970-01-01T00:00:00Z"
    assert h["x-attempts"] == b"3"
    assert h["x-consumer-group"] == b"g"
    assert "x-pack-index" not in h

    member = Poison(rec, b"m", "key_mismatch", "wrong partition", pack_index=4)
    h2 = dict(dead_letter_headers(member, group="g"))
    assert "content-type" not in h2
    assert h2["x-original-content-type"] == b"x"
    assert h2["x-pack-index"] == b"4"


def test_a_dead_letter_always_has_a_key_or_a_value() -> None:
    """Kafka refuses a record with neither: a pack member's record has no key, and a
    too-large letter is sent without its value."""
    keyed = Record("postings.v1", 2, 77, b"k", b"v")
    packed = Record("postings.v1", 2, 78, None, b"pack")
    assert letter_key(keyed.key, Poison(keyed, b"v", "c", "m")) == b"k"
    assert letter_key(keyed.key, Poison(keyed, b"v", "c", "m"), omitted=True) == b"k"
    member = Poison(packed, b"m", "c", "m", pack_index=1)
    assert letter_key(None, member) is None  # the value carries it
    assert letter_key(None, member, omitted=True) == b"postings.v1:2:78"
    assert letter_key(None, Poison(packed, None, "c", "m")) == b"postings.v1:2:78"


def test_a_letter_copies_a_bounded_share_of_the_original_headers() -> None:
    big = ("x-junk", b"j" * (dl.LETTER_HEADERS_MAX_BYTES + 1))
    rec = Record("postings.v1", 0, 5, b"k", b"v", (("trace", b"1"), big, ("after", b"2")))
    headers = dead_letter_headers(Poison(rec, b"v", "undecodable", "bad"), group="g")
    names = [k for k, _ in headers]
    assert names[:2] == ["trace", "after"]
    assert "x-junk" not in names
    note = dict(headers)[dl.H_HEADERS_TRUNCATED]
    assert note.startswith(b"dropped 1 of 3 original headers")
    small = dead_letter_headers(Poison(Record("t", 0, 1, b"k", b"v"), b"v", "c", "m"), group="g")
    assert dl.H_HEADERS_TRUNCATED not in dict(small)


class _Producer:
    """Records sends; refuses the first ``refuse`` of them with ``error``."""

    def __init__(self, refuse: int = 0, error: Exception | None = None) -> None:
        self.sent: list[tuple[bytes | None, bytes | None, dict[str, bytes]]] = []
        self.refuse, self.error = refuse, error

    async def send(
        self, topic: str, value: bytes | None, *, key: bytes | None, headers: list
    ) -> asyncio.Future[None]:
        if self.refuse:
            self.refuse -= 1
            assert self.error is not None
            raise self.error
        self.sent.append((key, value, dict(headers)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_a_letter_too_large_goes_without_value_or_minimal_but_always_goes() -> None:
    huge = Record("postings.v1", 1, 9, b"k", b"v" * dl.LETTER_MAX_BYTES)
    producer = _Producer()
    await dl.DeadLetters(producer, "dlq", group="g").send([Poison(huge, huge.value, "c", "m")])
    ((key, value, headers),) = producer.sent
    assert (key, value) == (b"k", None)
    assert dl.H_VALUE_OMITTED in headers

    refused = _Producer(refuse=1, error=MessageSizeTooLargeError())
    rec = Record("postings.v1", 1, 10, b"k" * 100, b"v", (("trace", b"1"),))
    await dl.DeadLetters(refused, "dlq", group="g").send([Poison(rec, b"v", "c", "m")])
    ((key, value, headers),) = refused.sent
    assert (key, value) == (b"postings.v1:1:10", None)
    assert "trace" not in headers
    assert headers[dl.H_ERROR_CLASS] == b"c"
    assert headers[dl.H_HEADERS_TRUNCATED] == b"all original headers dropped"

    down = _Producer(refuse=1, error=KafkaTimeoutError())
    with pytest.raises(KafkaTimeoutError):  # the world, not the letter: retried upstream
        await dl.DeadLetters(down, "dlq", group="g").send([Poison(rec, b"v", "c", "m")])


def test_invalidation_names_changes_with_versions() -> None:
    msg = build_invalidation([Changed("a", 3, False), Changed("b", 9, True)], source="w:1")
    parsed = events_pb2.Invalidation.FromString(msg.SerializeToString())
    assert [(p.id, p.version, p.deleted) for p in parsed.postings] == [
        ("a", 3, False),
        ("b", 9, True),
    ]
    assert parsed.source == "w:1"
    assert parsed.committed_at.seconds > 0


def test_index_policy_sizes_lists_like_pgvector_recommends() -> None:
    policy = IndexPolicy()
    assert policy.lists_for(5_000) == 10
    assert policy.lists_for(100_000) == 100
    assert policy.lists_for(4_000_000) == 2000
    assert IndexPolicy.probes_for(100) == 10
    assert IndexPolicy.probes_for(10) == 4


async def test_byte_budget_holds_the_stream_back_until_batches_are_durable() -> None:
    from streams.flow import ByteBudget

    budget = ByteBudget(limit=10)
    assert await budget.admit(b"x" * 6) == b"x" * 6
    blocked = asyncio.ensure_future(budget.admit(b"y" * 6))  # 12 > 10: wait
    await asyncio.sleep(0.01)
    assert not blocked.done()
    budget.release(6)
    assert await asyncio.wait_for(blocked, 1) == b"y" * 6
    budget.release(6)
    assert budget.used == 0
    assert await budget.admit(b"z" * 50) == b"z" * 50  # bigger than the limit: alone, admitted
    assert await budget.admit(None) is None  # a null value weighs nothing
