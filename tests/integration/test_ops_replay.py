"""Replays: dead letters redriven after the fix land and are not redriven twice; a
producer's file sent again, and a time range re-produced, change nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from schemas.domain import Posting, PostingDeleted
from schemas.settings import Settings
from streams.ops.redrive import redrive
from tests.support.gateway import running_gateway, sample_json
from tests.support.ops import (
    cli,
    cli_json,
    committed_and_end,
    ops_settings,
    snapshot,
    wait_caught_up,
    write_lines,
)
from tests.support.provision import free_port
from tests.support.sink import (
    WorkerProcess,
    as_records,
    expected_state,
    make_topics,
    metrics,
    pack_of,
    posting,
    produce,
    read_all,
    reset_table,
    table,
    wait_for,
)

pytestmark = pytest.mark.integration

CONSTRAINT = "test_ops_no_poison"


async def _sql(settings: Settings, statement: str) -> None:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_dead_letters_redriven_after_the_fix_land_and_are_not_redriven_twice(
    stack: Settings, tmp_path: Path
) -> None:
    """80 postings, 10 of them (5 inside packs) refused by a CHECK constraint, plus one
    undecodable record: 11 dead letters. Drop the constraint (the fix), redrive: the 10
    land, the undecodable one fails again; a second run redrives nothing."""
    await reset_table(stack)
    topics = await make_topics(stack, partitions=3)
    settings = ops_settings(topics)
    rng = np.random.default_rng(9)
    events: list[Posting | PostingDeleted] = [
        posting(f"r{i:03d}", 1, rng, title=f"#poison {i}" if i % 8 == 3 else None)
        for i in range(80)
    ]
    poison_ids = {e.id for e in events if isinstance(e, Posting) and "#poison" in e.title}
    await _sql(
        stack, f"ALTER TABLE postings ADD CONSTRAINT {CONSTRAINT} CHECK (title NOT LIKE '#poison%')"
    )
    worker: WorkerProcess | None = None
    try:
        records = as_records(events, topics.partitions, pack_every=2)  # first 40 packed
        records.append((b"junk", b"\xff\xff\xff not a protobuf"))
        await produce(stack, topics.postings, records)
        worker = WorkerProcess(topics, tmp_path, "w").start()
        await wait_caught_up(topics, timeout=90)
        assert len(await read_all(stack, topics.dead_letters, expect=11)) == 11
        assert set(await table(stack)) == {e.id for e in events} - poison_ids

        listed = await cli_json(topics, "dlq", "list")
        assert listed["summary"]["total"] == 11
        assert listed["summary"]["by_error_class"] == {"db_check_violation": 10, "undecodable": 1}
        member = next(x for x in listed["letters"] if "#" in x["origin"])  # a pack member
        shown = await cli_json(topics, "dlq", "show", str(member["offset"]))
        assert shown["posting_id"] in poison_ids
        assert shown["payload"]["kind"] == "PostingEvent"
        assert shown["payload"]["valid_now"] is True
        assert shown["payload"]["event"]["id"] == shown["posting_id"]
        assert shown["headers"]["x-error-class"] == "db_check_violation"
        code, out, _ = await cli(topics, "dlq", "list")  # for humans
        assert code == 0
        assert "11 dead letter(s)" in out
        code, out, _ = await cli(topics, "dlq", "show", str(member["offset"]))
        assert code == 0
        assert shown["posting_id"] in out
        assert "valid_now" in out
        code, _, err = await cli(topics, "dlq", "show", "999")
        assert code == 1
        assert "no dead letter at 0:999" in err

        await _sql(stack, f"ALTER TABLE postings DROP CONSTRAINT {CONSTRAINT}")  # the fix
        _, ends_before = await committed_and_end(topics)
        dry = await cli_json(topics, "replay", "--from-dlq")
        assert dry["executed"] is False
        assert dry["selected"] == 11
        assert (await committed_and_end(topics))[1] == ends_before  # nothing produced

        report = await redrive(settings, execute=True, wait_s=60)
        assert report.redriven == 11
        assert report.landed == 10
        assert report.failed_again == 1
        assert report.pending == 0
        assert dict(report.failed_again_by_class) == {"undecodable": 1}
        rows = await table(stack)
        assert {k: (v[0], v[1]) for k, v in rows.items()} == expected_state(events)
        assert all(rows[pid][2] and rows[pid][2].startswith("#poison") for pid in poison_ids)

        again = await redrive(settings, execute=True, wait_s=10, max_redrives=1)
        assert again.redriven == 0
        assert again.skipped["already_redriven"] == 11
        assert again.skipped["max_redrives"] == 1  # the re-dead-lettered undecodable one
        # The CLI with the default max_redrives tries the undecodable one once more: it
        # fails again, so the command exits 1.
        code, out, err = await cli(topics, "replay", "--from-dlq", "--execute", "--wait", "30")
        assert code == 1, out + err
        assert "failed again 1" in out
        assert len(await read_all(stack, topics.dead_letters, expect=13)) == 13
    finally:
        await _sql(stack, f"ALTER TABLE postings DROP CONSTRAINT IF EXISTS {CONSTRAINT}")
        if worker is not None and worker.alive():
            worker.kill9()


async def test_a_producer_file_sent_again_and_a_replayed_time_range_change_nothing(
    stack: Settings, tmp_path: Path
) -> None:
    await reset_table(stack)
    topics = await make_topics(stack, partitions=3)
    settings = ops_settings(topics)
    port = free_port()
    rows = [sample_json(i, version=1 + i % 3) for i in range(60)]
    rows += [sample_json(i, version=9, title=f"Staff Engineer {i}") for i in range(0, 60, 7)]
    rows.append({"id": "test:5", "version": 10, "deleted": True})
    export = write_lines(tmp_path / "export.ndjson", rows)
    start = datetime.now(UTC) - timedelta(seconds=1)
    env = {"JOBSTREAM_GATEWAY_PORT": str(port)}
    worker = WorkerProcess(topics, tmp_path, "w").start()
    try:
        async with running_gateway(settings, gateway_port=port):
            sent = await cli_json(topics, "produce", "--file", str(export), **env)
            assert sent["accepted"] == len(rows)
            await wait_caught_up(topics, timeout=90)
            before = await snapshot(stack)
            assert len(before) == 60
            _, ends = await committed_and_end(topics)
            stale = metrics(worker.metrics_port)["jobstream_sink_skipped_stale_total"]

            again = await cli_json(topics, "replay", "--from-file", str(export), **env)
            assert again["accepted"] == len(rows)
            assert again["producer_id"].startswith("replay-")
            await wait_for(
                lambda: (
                    metrics(worker.metrics_port)["jobstream_sink_skipped_stale_total"]
                    >= stale + len(rows)
                ),
                timeout=60,
                what="the replayed file to be processed",
            )
            await wait_caught_up(topics, timeout=60)
            assert sum((await committed_and_end(topics))[1].values()) > sum(ends.values())
            assert await snapshot(stack) == before

        code, _, err = await cli(
            topics, "replay", "--from-datetime", start.isoformat(), "--to-datetime",
            (start - timedelta(hours=1)).isoformat(),
        )  # fmt: skip
        assert code == 2
        assert "is not after" in err
        _, ends = await committed_and_end(topics)
        replayed = await cli_json(
            topics, "replay", "--from-datetime", start.isoformat(), "--execute"
        )
        assert replayed["replayed"] == sum(ends.values())  # both sends of the file
        await wait_caught_up(topics, timeout=60)
        assert sum((await committed_and_end(topics))[1].values()) == 2 * sum(ends.values())
        assert await snapshot(stack) == before
    finally:
        if worker.alive():
            worker.kill9()


async def test_a_letter_whose_value_was_omitted_is_redriven_from_its_original_record(
    stack: Settings,
) -> None:
    """The sink omits a value too large for the DLQ and points at the original; redrive
    reads it back (a pack member sliced out of its pack) and re-produces those bytes."""
    from schemas.domain import encode_event
    from schemas.topics import CONTENT_TYPE_PACK, partition_for
    from streams import dead_letters as dl

    topics = await make_topics(stack, partitions=3)
    settings = ops_settings(topics)
    rng = np.random.default_rng(2)
    members = [posting(f"om{i}", 1, rng) for i in range(40)]
    part = partition_for(members[0].id, 3)
    members = [m for m in members if partition_for(m.id, 3) == part][:2]
    single = posting("om-single", 4, rng)
    pack_meta, single_meta = await produce(
        stack,
        topics.postings,
        [
            (
                None,
                pack_of([encode_event(m) for m in members]),
                [("content-type", CONTENT_TYPE_PACK.encode())],
                part,
            ),
            (single.id.encode(), encode_event(single)),
        ],
    )

    def omitted(meta: object, pack_index: int | None) -> list[tuple[str, bytes]]:
        headers = [
            (dl.H_ERROR_CLASS, b"db_check_violation"),
            (dl.H_TOPIC, topics.postings.encode()),
            (dl.H_PARTITION, str(meta.partition).encode()),  # type: ignore[attr-defined]
            (dl.H_OFFSET, str(meta.offset).encode()),  # type: ignore[attr-defined]
            (dl.H_VALUE_OMITTED, b"too large; read it at the original offset"),
        ]
        if pack_index is not None:
            headers.append((dl.H_PACK_INDEX, str(pack_index).encode()))
        return headers

    await produce(
        stack,
        topics.dead_letters,
        [
            # aiokafka refuses a record with neither key nor value; any key will do here
            (b"pack-member", None, omitted(pack_meta, 1)),
            (single.id.encode(), None, omitted(single_meta, None)),
        ],
    )
    report = await redrive(settings, execute=True, wait_s=0)
    assert report.redriven == 2
    assert report.pending == 2  # no worker in this test
    records = await read_all(stack, topics.postings, expect=4)
    originals = {(m.partition, m.offset) for m in (pack_meta, single_meta)}
    copies = [r for r in records if (r.partition, r.offset) not in originals]
    assert sorted((r.key, r.value) for r in copies) == sorted(
        [
            (members[1].id.encode(), encode_event(members[1])),
            (single.id.encode(), encode_event(single)),
        ]
    )
