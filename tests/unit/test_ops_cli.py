"""The ops commands refuse malformed input before touching Kafka, with exit code 2 and a
message that says what to type; unknown groups and unreachable brokers are clear errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from infra.cli import app
from streams import dead_letters as dl
from streams.ops import kafka as ops_kafka
from streams.ops.dead_letters import H_REDRIVE_COUNT, H_REDRIVEN_FROM, DeadLetter
from streams.ops.errors import OpsError, UsageError
from streams.ops.group import GroupState, Member, _assignment
from streams.ops.offsets import _known_group
from streams.ops.parse import parse_datetime, parse_partition_offset
from streams.ops.redrive import _key, _skip_reason
from tests.support.provision import free_port

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


# --- malformed input ------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01T00:00:00Z", "27/11/2026", ""])
def test_bad_datetime_is_refused_with_an_example(bad: str) -> None:
    result = invoke("offsets", "reset", "-g", "g", "--to-datetime", bad, "--execute")
    assert result.exit_code == 2
    assert "ISO 8601" in result.output
    assert "2026-11-27T04:00:00Z" in result.output


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("3", "expected PARTITION:OFFSET"),
        ("a:b", "must be integers"),
        ("1:x", "must be integers"),
        ("-1:5", ">= 0"),
        ("2:-4", ">= 0"),
    ],
)
def test_bad_partition_offset_is_refused(bad: str, says: str) -> None:
    result = invoke("offsets", "reset", "-g", "g", "--to-offset", bad)
    assert result.exit_code == 2
    assert says in result.output


def test_the_same_partition_twice_is_refused() -> None:
    result = invoke("offsets", "reset", "-g", "g", "--to-offset", "1:5", "--to-offset", "1:6")
    assert result.exit_code == 2
    assert "names a partition twice" in result.output


@pytest.mark.parametrize(
    "flags",
    [
        ["--to-earliest", "--to-latest"],
        ["--to-earliest", "--shift-by", "-5"],
        ["--to-datetime", "2026-11-27T00:00:00Z", "--to-offset", "0:1"],
        [],
    ],
)
def test_reset_needs_exactly_one_target(flags: list[str]) -> None:
    result = invoke("offsets", "reset", "-g", "g", *flags)
    assert result.exit_code == 2
    assert "exactly one of --to-earliest" in result.output


def test_reset_needs_a_group() -> None:
    assert invoke("offsets", "reset", "--to-earliest").exit_code == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from-dlq", "--from-file", "x.ndjson"], "exactly one of --from-dlq"),
        ([], "exactly one of --from-dlq"),
        (["--to-datetime", "2026-11-27T00:00:00Z"], "exactly one of"),
        (["--from-dlq", "--to-datetime", "2026-11-27T00:00:00Z"], "needs --from-datetime"),
        (["--from-file", "x.ndjson", "--limit", "3"], "--from-dlq only"),
        (["--from-dlq", "--producer-id", "p"], "--from-file only"),
        (["--from-datetime", "soon"], "ISO 8601"),
        (["--from-datetime", "2026-11-27T00:00:00Z", "--to-datetime", "later"], "ISO 8601"),
    ],
)
def test_replay_refuses_conflicting_or_malformed_flags(args: list[str], says: str) -> None:
    result = invoke("replay", *args)
    assert result.exit_code == 2
    assert says in result.output


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path: Any) -> None:
    result = invoke("replay", "--from-file", str(tmp_path / "nope.ndjson"))
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_every_command_has_help_with_examples() -> None:
    for command in (
        ["offsets", "show"],
        ["offsets", "reset"],
        ["dlq", "list"],
        ["dlq", "show"],
        ["replay"],
    ):
        result = invoke(*command, "--help")
        assert result.exit_code == 0, command
        assert "Example" in result.output, command
        assert "--json" in result.output, command


# --- unreachable broker / unknown group ------------------------------------------------
def test_an_unreachable_broker_exits_3_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS", address)
    monkeypatch.setattr(ops_kafka, "CONNECT_TIMEOUT_S", 1.0)
    result = invoke("offsets", "show")
    assert result.exit_code == 3
    assert "cannot reach Kafka" in result.output
    assert address in result.output


class FakeAdmin:
    """Answers like a broker that has never heard of the group."""

    def __init__(self, groups: list[str]) -> None:
        self.groups = groups

    async def describe_consumer_groups(self, ids: list[str]) -> list[Any]:
        return [SimpleNamespace(groups=[(0, ids[0], "Dead", "", "", [])])]

    async def list_consumer_group_offsets(self, group: str) -> dict[Any, Any]:
        return {}

    async def list_consumer_groups(self) -> list[tuple[str, str]]:
        return [(g, "consumer") for g in self.groups]


def test_an_unknown_group_is_named_with_the_known_ones() -> None:
    with pytest.raises(OpsError) as caught:
        asyncio.run(_known_group(FakeAdmin(["jobstream-sink"]), "jobstream-snik"))  # type: ignore[arg-type]
    assert "unknown consumer group 'jobstream-snik'" in caught.value.message
    assert "known groups: jobstream-sink" in caught.value.message
    assert caught.value.exit_code == 1


# --- pure helpers ----------------------------------------------------------------------
def test_datetimes_without_an_offset_are_utc() -> None:
    assert parse_datetime("2026-11-27T04:00:00", "--x") == datetime(2026, 11, 27, 4, tzinfo=UTC)
    assert parse_datetime("2026-11-27T05:00:00+01:00", "--x") == datetime(
        2026, 11, 27, 5, tzinfo=timezone(timedelta(hours=1))
    )
    assert parse_datetime("2026-11-27T04:00:00Z", "--x").utcoffset() == timedelta(0)
    with pytest.raises(UsageError):
        parse_datetime("1960-01-01", "--x")


def test_partition_offset() -> None:
    assert parse_partition_offset(" 3:1200 ") == (3, 1200)


def test_group_members_partitions_are_decoded_from_the_assignment() -> None:
    from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

    raw = ConsumerProtocolMemberAssignment(0, [("postings.v1", [4, 1, 2])], b"").encode()
    assert _assignment(raw) == {"postings.v1": [1, 2, 4]}
    assert _assignment(b"") == {}
    state = GroupState("g", "Stable", "faust", [Member("m", "c", "/h", {"postings.v1": [1]})])
    assert state.active
    assert state.owner_of("postings.v1", 1) is not None
    assert not GroupState("g", "Empty", "", []).active


def letter(**headers: str) -> DeadLetter:
    return DeadLetter(
        "postings.v1.dlq",
        0,
        7,
        0,
        None,
        b"\x0a\x03abc",  # a PostingEvent with id "abc"
        (
            ("content-type", b"x"),
            (dl.H_ERROR_CLASS, b"db_check_violation"),
            (dl.H_CONTENT_TYPE, b"application/x-jobstream-pack"),
            (dl.H_PACK_INDEX, b"2"),
            *((k, v.encode()) for k, v in headers.items()),
        ),
    )


def test_a_redriven_letter_keeps_the_producers_headers_and_gets_the_posting_id_as_key() -> None:
    item = letter(**{H_REDRIVEN_FROM: "postings.v1.dlq:0:1", H_REDRIVE_COUNT: "1"})
    assert item.original_headers() == [("content-type", b"x")]
    assert _key(item) == b"abc"
    assert item.redrive_count == 1
    assert item.error_class == "db_check_violation"


def test_which_letters_a_redrive_skips() -> None:
    item = letter()
    assert _skip_reason(item, {}, None, 3) is None
    assert _skip_reason(item, {"0:7": {}}, None, 3) == "already_redriven"
    assert _skip_reason(item, {}, frozenset({"undecodable"}), 3) == "other_error_class"
    assert _skip_reason(letter(**{H_REDRIVE_COUNT: "3"}), {}, None, 3) == "max_redrives"


# --- dlq list -------------------------------------------------------------------------
def test_a_letters_posting_id_comes_from_the_key_unless_the_key_is_coordinates() -> None:
    def keyed(key: bytes | None) -> DeadLetter:
        origin = ((dl.H_TOPIC, b"postings.v1"), (dl.H_PARTITION, b"2"), (dl.H_OFFSET, b"9"))
        return DeadLetter("postings.v1.dlq", 0, 7, 0, key, b'{"id": "x"}', origin)

    assert keyed(b"json-1").posting_id == "json-1"
    assert keyed(b"postings.v1:2:9").posting_id is None  # a minimal letter's key
    assert keyed(b"has space").posting_id is None
    assert keyed(b"\xff\xfe").posting_id is None
    assert keyed(None).posting_id is None


def test_dlq_list_wraps_the_whole_reason_on_an_80_column_terminal() -> None:
    import io

    from rich.console import Console

    from streams.ops.dlq_table import print_letters

    reason = (
        "the value is JSON: postings.v1 accepts only protobuf, a jobstream.v1.PostingEvent "
        "(content-type: application/x-protobuf; messageType=jobstream.v1.PostingEvent) or a "
        "jobstream.v1.PostingEventPack [not markup] " + "x" * 150 + "; see docs/record-contract.md"
    )
    row = {
        "partition": 0, "offset": 12, "dead_lettered_at": "2026-01-01T00:00:00+00:00",
        "error_class": "unsupported_format", "posting_id": "a-rather-long-posting-id-0001",
        "origin": "postings.v1:2:14", "redriven": True, "error_message": reason,
    }  # fmt: skip
    for wide, width in ((False, 80), (True, len(reason) + 120)):
        console = Console(file=io.StringIO(), width=80, color_system=None)
        print_letters(console, [row, row], wide=wide)
        lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
        assert "…" not in "".join(lines)
        assert max(map(len, lines)) <= width
        body = [line for line in lines if line.startswith("│")]
        if wide:  # one line per letter, past the terminal's edge
            assert len(body) == 2
            assert all(reason in line and "postings.v1:2:14" in line for line in body)
        else:
            why = "".join("".join(line.split("│")[-2].split()) for line in body)
            assert why == "".join(reason.split()) * 2
            assert "a-rather-long-posting-id-0001" in "".join(
                line.split("│")[3].strip() for line in body
            )
