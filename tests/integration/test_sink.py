"""The sink worker on the real stack: versions, tombstones, dead letters, invalidations.

Each test runs ``python -m streams`` as a subprocess against private topics and a
private consumer group, with the postings table truncated first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from schemas.domain import encode_event
from schemas.jobstream.v1 import events_pb2, posting_pb2
from schemas.settings import Settings
from schemas.topics import CONTENT_TYPE_PACK, partition_for
from tests.support.sink import (
    Topics,
    WorkerProcess,
    committed_and_end,
    deleted,
    encoded,
    make_topics,
    metrics,
    pack_of,
    posting,
    produce,
    read_all,
    reset_table,
    table,
    wait_caught_up,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def topics(stack: Settings) -> Topics:
    await reset_table(stack)
    return await make_topics(stack, partitions=3)


@pytest.fixture
def worker(topics: Topics, tmp_path: Path) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(topics, tmp_path).start()
    yield proc
    if proc.alive():
        proc.kill9()


async def invalidations(topics: Topics, expect: int) -> list[events_pb2.Invalidation]:
    records = await read_all(topics.settings, topics.invalidations, expect=expect, timeout=10)
    return [events_pb2.Invalidation.FromString(r.value) for r in records]


def changed(events: list[events_pb2.Invalidation]) -> set[tuple[str, int, bool]]:
    return {(p.id, p.version, p.deleted) for e in events for p in e.postings}


async def test_highest_version_wins_tombstones_hold_and_invalidations_follow_commits(
    stack: Settings, topics: Topics, worker: WorkerProcess
) -> None:
    rng = np.random.default_rng(1)
    s, topic = stack, topics.postings

    # Phase 1: new postings, one of them deleted before it was ever live.
    await produce(
        s,
        topic,
        encoded(
            [
                posting("a", 2, rng),
                posting("b", 1, rng, title="b original"),
                deleted("c", 3),
                posting("d", 1, rng),
                posting("e", 1, rng),
            ]
        ),
    )
    await wait_caught_up(topics)
    assert await table(s) == {
        "a": (2, False, "Engineer a v2"),
        "b": (1, False, "b original"),
        "c": (3, True, None),
        "d": (1, False, "Engineer d v1"),
        "e": (1, False, "Engineer e v1"),
    }
    phase1 = await invalidations(topics, expect=1)
    assert changed(phase1) == {
        ("a", 2, False),
        ("b", 1, False),
        ("c", 3, True),
        ("d", 1, False),
        ("e", 1, False),
    }

    # Phase 2: only stale events -> nothing changes, no invalidation is emitted.
    await produce(
        s,
        topic,
        encoded(
            [posting("a", 1, rng), posting("b", 1, rng, title="b replayed"), posting("c", 2, rng)]
        ),
    )
    await wait_caught_up(topics)
    assert await invalidations(topics, expect=len(phase1)) == phase1

    # Phase 3: a delete, then a newer upsert brings a deleted posting back.
    await produce(s, topic, encoded([deleted("d", 2), deleted("f", 1)]))
    await wait_caught_up(topics)
    await produce(s, topic, encoded([posting("d", 3, rng), posting("c", 4, rng)]))
    await wait_caught_up(topics)

    assert await table(s) == {
        "a": (2, False, "Engineer a v2"),  # v1 after v2: ignored
        "b": (1, False, "b original"),  # equal version replay: no-op
        "c": (4, False, "Engineer c v4"),  # v2 after delete v3: ignored; v4 live again
        "d": (3, False, "Engineer d v3"),  # delete v2, then v3: live again
        "e": (1, False, "Engineer e v1"),
        "f": (1, True, None),  # delete of an unknown posting: a tombstone row
    }
    later = (await invalidations(topics, expect=len(phase1) + 2))[len(phase1) :]
    assert changed(later) == {("d", 2, True), ("f", 1, True), ("d", 3, False), ("c", 4, False)}
    assert all(e.source and e.HasField("committed_at") for e in later)

    samples = metrics(worker.metrics_port)
    assert samples["jobstream_sink_events_consumed_total"] == 12
    assert samples['jobstream_sink_upserted_total{kind="upsert"}'] == 6
    assert samples['jobstream_sink_upserted_total{kind="delete"}'] == 3
    assert samples["jobstream_sink_skipped_stale_total"] == 3
    assert samples["jobstream_sink_invalidations_sent_total"] >= 3
    assert samples["jobstream_sink_batch_seconds_count"] >= 3
    lags = {k: v for k, v in samples.items() if k.startswith("jobstream_sink_consumer_lag{")}
    assert len(lags) == topics.partitions
    assert set(lags.values()) == {0.0}

    # Graceful stop: exit code 0, and the committed offsets are the log end.
    assert worker.terminate() == 0, worker.tail()
    committed, ends = await committed_and_end(topics)
    assert committed == ends


async def test_poison_records_are_dead_lettered_with_original_bytes_and_neighbours_land(
    stack: Settings, topics: Topics, worker: WorkerProcess
) -> None:
    rng = np.random.default_rng(2)
    s = stack
    bad_schema = posting_pb2.PostingEvent(id="bad-1", version=0).SerializeToString()
    mismatched = encode_event(posting("km-1", 1, rng))

    # A pack: three members on the partition of "pk-1", one of them invalid, one misplaced.
    home = partition_for("pk-1", topics.partitions)
    same = next(f"pk-{i}" for i in range(2, 500) if partition_for(f"pk-{i}", 3) == home)
    other = next(f"pk-{i}" for i in range(2, 500) if partition_for(f"pk-{i}", 3) != home)
    members = [
        encode_event(posting("pk-1", 1, rng)),
        posting_pb2.PostingEvent(id=same, version=-5).SerializeToString(),
        encode_event(posting(other, 1, rng)),
        encode_event(posting(same, 2, rng)),
    ]
    pack = pack_of(members)
    pack_headers = [("content-type", CONTENT_TYPE_PACK.encode()), ("producer-id", b"tester")]

    sent = await produce(
        s,
        topics.postings,
        [
            (b"good-1", encode_event(posting("good-1", 1, rng))),
            (b"junk-1", b"\xff\xfe\x00 definitely not protobuf", [("trace", b"t-1")]),
            (b"null-1", None),
            (b"bad-1", bad_schema),
            (b"someone-else", mismatched),
            (None, pack, pack_headers, home),
            (b"good-2", encode_event(posting("good-2", 1, rng))),
        ],
    )
    await wait_caught_up(topics)
    assert set(await table(s)) == {"good-1", "good-2", "pk-1", same}

    dlq = await read_all(s, topics.dead_letters, expect=6)
    assert len(dlq) == 6
    classes = sorted(dict(r.headers)["x-error-class"].decode() for r in dlq)
    assert classes == ["invalid_version"] * 2 + ["key_mismatch"] * 2 + ["undecodable"] * 2

    junk = next(r for r in dlq if r.key == b"junk-1")
    h = dict(junk.headers)
    assert junk.value == b"\xff\xfe\x00 definitely not protobuf"
    assert h["trace"] == b"t-1"  # original headers kept
    assert h["x-original-topic"].decode() == topics.postings
    assert int(h["x-original-partition"]) == sent[1].partition
    assert int(h["x-original-offset"]) == sent[1].offset
    assert h["x-attempts"] == b"1"
    assert h["x-first-failed-at"].endswith(b"Z")
    assert b"not a jobstream.v1.PostingEvent" in h["x-error-message"]

    null = next(r for r in dlq if r.key == b"null-1")
    assert null.value is None
    assert dict(null.headers)["x-error-class"] == b"undecodable"
    bad = next(r for r in dlq if r.key == b"bad-1")
    assert bad.value == bad_schema
    km = next(r for r in dlq if r.key == b"someone-else")
    assert km.value == mismatched
    assert dict(km.headers)["x-error-class"] == b"key_mismatch"

    pack_dlq = sorted(
        (r for r in dlq if dict(r.headers).get("x-pack-index")),
        key=lambda r: int(dict(r.headers)["x-pack-index"]),
    )
    assert [int(dict(r.headers)["x-pack-index"]) for r in pack_dlq] == [1, 2]
    assert [r.value for r in pack_dlq] == [members[1], members[2]]  # exact member bytes
    for r in pack_dlq:
        hh = dict(r.headers)
        assert hh["x-original-content-type"] == CONTENT_TYPE_PACK.encode()
        assert "content-type" not in hh
        assert hh["producer-id"] == b"tester"
        assert int(hh["x-original-offset"]) == sent[5].offset

    samples = metrics(worker.metrics_port)
    assert samples['jobstream_sink_dead_lettered_total{error_class="undecodable"}'] == 2
    assert samples['jobstream_sink_dead_lettered_total{error_class="key_mismatch"}'] == 2


async def test_a_record_the_database_rejects_is_isolated_and_the_rest_lands(
    stack: Settings, topics: Topics, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    conn = await asyncpg.connect(stack.postgres_dsn)
    await conn.execute(
        "ALTER TABLE postings ADD CONSTRAINT test_sink_reject"
        " CHECK (title IS DISTINCT FROM 'REJECT ME') NOT VALID"
    )
    worker = WorkerProcess(topics, tmp_path)
    try:
        events = [posting(f"y{i}", 1, rng) for i in range(40)]
        events[10:10] = [posting("x", 1, rng), posting("x", 2, rng, title="REJECT ME")]
        events.append(posting("z", 1, rng, title="REJECT ME"))
        await produce(stack, topics.postings, encoded(events))
        worker.start()
        await wait_caught_up(topics)
        rows = await table(stack)
        assert rows["x"] == (1, False, "Engineer x v1")  # v2 rejected: v1 still applies
        assert "z" not in rows
        assert {f"y{i}" for i in range(40)} <= set(rows)

        dlq = await read_all(stack, topics.dead_letters, expect=2)
        assert sorted(r.key for r in dlq) == [b"x", b"z"]
        for r in dlq:
            h = dict(r.headers)
            assert h["x-error-class"] == b"db_check_violation"
            assert b"test_sink_reject" in h["x-error-message"]
            assert int(h["x-attempts"]) >= 2  # the batch, then the isolating steps
        x2 = next(r for r in dlq if r.key == b"x")
        assert x2.value == encode_event(events[11])
        samples = metrics(worker.metrics_port)
        assert samples['jobstream_sink_dead_lettered_total{error_class="db_check_violation"}'] == 2
    finally:
        if worker.alive():
            worker.kill9()
        await conn.execute("ALTER TABLE postings DROP CONSTRAINT test_sink_reject")
        await conn.close()
