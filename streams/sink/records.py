"""What the sink reads from postings.v1: Kafka records, decoded into domain events or poison.

A record is one ``PostingEvent`` (key = posting id), or -- with header
``content-type: application/x-jobstream-pack`` -- a ``PostingEventPack`` of several events
bound for the record's partition. Each pack member is judged on its own: a bad member is
dead-lettered with its exact bytes (sliced from the pack, not re-encoded) and the rest of
the pack lands. A pack with more than ``JOBSTREAM_PACK_MAX_EVENTS`` members is one poison
record, dead-lettered once and whole (a million empty members must not become a million
letters and log lines).

Nothing else is read: a record whose content-type names another format (JSON, Avro,
text) or whose undecodable value is JSON -- a producer that bypassed the gateway, such as
kcat or Kafka Connect -- is poison of class ``unsupported_format``, its reason naming the
two protobuf messages and :data:`RECORD_CONTRACT`.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from schemas.domain import (
    LogEvent,
    PoisonRecord,
    UndecodableRecord,
    decode_record,
    validate_record,
)
from schemas.jobstream.v1 import posting_pb2
from schemas.topics import CONTENT_TYPE_EVENT, CONTENT_TYPE_PACK, partition_for

_PACK_HEADER = CONTENT_TYPE_PACK.encode()  # compared once per record
# What a producer that bypasses the gateway must write (keys, partitioner, headers).
RECORD_CONTRACT = "docs/record-contract.md"
Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record of postings.v1 with its coordinates, bytes untouched."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    @property
    def is_pack(self) -> bool:
        return any(k.lower() == "content-type" and v == _PACK_HEADER for k, v in self.headers)

    @property
    def content_type(self) -> str | None:
        """The producer's content-type header, if it sent one."""
        for k, v in self.headers:
            if k.lower() == "content-type":
                return v.decode("utf-8", "replace")
        return None


def record_of(message: Any) -> Record:
    """A :class:`Record` from a Kafka message (Faust's or aiokafka's ``ConsumerRecord``)."""
    headers = tuple((k, bytes(v) if v is not None else b"") for k, v in (message.headers or ()))
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=headers,
    )


@dataclass(slots=True)
class Decoded:
    """A valid event; ``seq`` is its position in the batch (earlier wins a version tie).

    ``value`` is the event's original bytes: the record's value, or the pack member's.
    ``event`` may be a :class:`~schemas.domain.VersionReset` (streams.sink.batch.rounds).
    """

    event: LogEvent
    record: Record
    seq: int
    value: bytes | None
    pack_index: int | None = None


@dataclass(slots=True)
class Poison:
    """Something to dead-letter: the original bytes and why.

    For a pack member ``value`` is the member's bytes and ``pack_index`` its position.
    """

    record: Record
    value: bytes | None
    error_class: str
    message: str
    pack_index: int | None = None
    attempts: int = 1
    first_failed_at: float = field(default_factory=time.time)


PartitionCount = Callable[[str], int | None]


class OversizedPack(PoisonRecord):
    """A pack with more members than ``JOBSTREAM_PACK_MAX_EVENTS``: poison as a whole."""

    error_class = "pack_too_large"


class UnsupportedFormat(UndecodableRecord):
    """JSON (or any format but protobuf) from a producer that bypassed the gateway: its
    own class, so the letter says what to change rather than "corrupt bytes"."""

    error_class = "unsupported_format"

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what}: postings.v1 accepts only protobuf, a jobstream.v1.PostingEvent keyed by "
            f"its id (content-type: {CONTENT_TYPE_EVENT}) or a jobstream.v1.PostingEventPack "
            f"(content-type: {CONTENT_TYPE_PACK}); see {RECORD_CONTRACT}"
        )


def decode_single(record: Record, *, dim: int) -> LogEvent:
    """One non-pack record as an event; UnsupportedFormat when it declares or carries
    another format (JSON is sniffed only once protobuf failed: the hot path pays nothing)."""
    declared = record.content_type
    if declared is not None and "protobuf" not in declared.lower():
        raise UnsupportedFormat(f"content-type {declared[:100]!r}")
    try:
        return decode_record(record.key, record.value, dim=dim)
    except UndecodableRecord:
        if _is_json(record.value):
            raise UnsupportedFormat("the value is JSON") from None
        raise


def _is_json(value: bytes | None) -> bool:
    if not value or value.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(value)
    except (ValueError, RecursionError):
        return False
    return True


def decode_records(
    records: list[Record], *, dim: int, partitions: PartitionCount, pack_max: int
) -> tuple[list[Decoded], list[Poison]]:
    """Split a batch into valid events (in log order) and poison; never raises.

    ``pack_max`` is ``Settings.pack_max_events``: a bigger pack is one poison record.
    """
    decoded: list[Decoded] = []
    poison: list[Poison] = []
    for record in records:
        if record.is_pack:
            _decode_pack(record, dim, partitions, pack_max, decoded, poison)
            continue
        try:
            event = decode_single(record, dim=dim)
        except PoisonRecord as exc:
            poison.append(Poison(record, record.value, exc.error_class, exc.message))
        except Exception as exc:  # a bug in validation must not stop the partition
            poison.append(Poison(record, record.value, "unexpected", f"{exc!r}"[:1000]))
        else:
            decoded.append(Decoded(event, record, len(decoded), record.value))
    return decoded, poison


def _decode_pack(
    record: Record,
    dim: int,
    partitions: PartitionCount,
    pack_max: int,
    decoded: list[Decoded],
    poison: list[Poison],
) -> None:
    try:
        members = pack_members(record.value, pack_max)
    except (UndecodableRecord, OversizedPack) as exc:
        poison.append(Poison(record, record.value, exc.error_class, exc.message))
        return
    count = partitions(record.topic)
    for index, raw in enumerate(members):
        try:
            event = validate_record(posting_pb2.PostingEvent.FromString(raw), dim=dim)
        except PoisonRecord as exc:
            poison.append(
                Poison(record, raw, exc.error_class, f"pack member {index}: {exc.message}", index)
            )
            continue
        except DecodeError as exc:
            message = f"pack member {index}: {len(raw)} bytes are not a PostingEvent: {exc}"
            poison.append(Poison(record, raw, UndecodableRecord.error_class, message, index))
            continue
        except Exception as exc:
            poison.append(Poison(record, raw, "unexpected", f"{exc!r}"[:1000], index))
            continue
        if count and (expected := partition_for(event.id, count)) != record.partition:
            message = (
                f"pack member {index}: id {event.id[:140]!r} belongs on partition {expected}, "
                f"but the pack is on partition {record.partition}"
            )
            poison.append(Poison(record, raw, "key_mismatch", message, index))
            continue
        decoded.append(Decoded(event, record, len(decoded), raw, index))


def pack_members(value: bytes | None, pack_max: int) -> list[bytes]:
    """The members' bytes; OversizedPack past ``pack_max`` (without reading the rest)."""
    members = list(itertools.islice(split_pack(value), pack_max + 1))
    if len(members) > pack_max:
        raise OversizedPack(
            f"pack has more than {pack_max} events (JOBSTREAM_PACK_MAX_EVENTS); "
            "dead-lettered whole, none of its events applied"
        )
    return members


def event_count(record: Record, limit: int | None = None) -> int:
    """How many events a record carries (a pack's members; 1 for anything else), counted
    up to ``limit`` at most."""
    if not record.is_pack:
        return 1
    try:
        return max(1, sum(1 for _ in itertools.islice(split_pack(record.value), limit)))
    except UndecodableRecord:
        return 1


def chunks(records: Sequence[Record], max_events: int) -> Iterator[list[Record]]:
    """Consecutive groups of whole records with at most ``max_events`` events each (a
    record bigger than that forms a group of its own): one database transaction each."""
    group: list[Record] = []
    size = 0
    for record in records:
        n = event_count(record, max_events + 1)
        if group and size + n > max_events:
            yield group
            group, size = [], 0
        group.append(record)
        size += n
    if group:
        yield group


def split_pack(value: bytes | None) -> Iterator[bytes]:
    """The exact bytes of each ``PostingEventPack.events`` member (field 1, length-delimited)."""
    if not value:
        raise UndecodableRecord("pack record has no value; expected a PostingEventPack")
    view = memoryview(value)
    pos, end = 0, len(value)
    while pos < end:
        tag, pos = _varint(view, pos)
        if tag != 0x0A:  # field 1, wire type 2
            raise UndecodableRecord(
                f"{end} bytes are not a jobstream.v1.PostingEventPack: unexpected tag {tag} "
                f"at byte {pos}"
            )
        size, pos = _varint(view, pos)
        if pos + size > end:
            raise UndecodableRecord(
                f"{end} bytes are not a jobstream.v1.PostingEventPack: truncated member"
            )
        yield bytes(view[pos : pos + size])
        pos += size


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(view) and shift < 64:
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise UndecodableRecord("bytes are not a jobstream.v1.PostingEventPack: bad varint")
