"""Reading the DLQ: each letter with its diagnosis headers parsed and its payload decoded.

The header names are the sink's (:mod:`streams.dead_letters`), the single source of truth
for what a dead letter carries.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition
from google.protobuf.json_format import MessageToDict

from schemas.domain import PoisonRecord, decode_event
from schemas.domain.limits import ID_PATTERN
from schemas.jobstream.v1 import posting_pb2
from schemas.settings import Settings
from streams import dead_letters as dl
from streams.ops.errors import OpsError
from streams.ops.kafka import consumer, log_bounds, partitions_of
from streams.ops.scan import scan
from streams.sink.records import record_of, split_pack

# Headers the ops tools add to a redriven record; the sink copies them into a new dead
# letter if it fails again, which is how a redrive recognises its own failures.
H_REDRIVEN_FROM = "x-redriven-from"  # "<dlq topic>:<partition>:<offset>"
H_REDRIVE_COUNT = "x-redrive-count"

DIAGNOSIS_HEADERS = frozenset(
    {
        dl.H_ERROR_CLASS,
        dl.H_ERROR_MESSAGE,
        dl.H_TOPIC,
        dl.H_PARTITION,
        dl.H_OFFSET,
        dl.H_FIRST_FAILED_AT,
        dl.H_ATTEMPTS,
        dl.H_PACK_INDEX,
        dl.H_CONTENT_TYPE,
        dl.H_CONSUMER_GROUP,
        dl.H_VALUE_OMITTED,
        dl.H_HEADERS_TRUNCATED,
        H_REDRIVEN_FROM,
        H_REDRIVE_COUNT,
    }
)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DeadLetter:
    """One DLQ record: where it sits, why it is there, where it came from, its bytes."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default=())

    def header(self, name: str) -> str | None:
        for k, v in reversed(self.headers):  # the sink's own (last) wins over copies
            if k == name:
                return v.decode("utf-8", "replace")
        return None

    @property
    def coordinates(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def error_class(self) -> str:
        return self.header(dl.H_ERROR_CLASS) or "unknown"

    @property
    def error_message(self) -> str:
        return self.header(dl.H_ERROR_MESSAGE) or ""

    @property
    def origin(self) -> str:
        topic, part, off = (self.header(h) for h in (dl.H_TOPIC, dl.H_PARTITION, dl.H_OFFSET))
        pack = self.header(dl.H_PACK_INDEX)
        return f"{topic}:{part}:{off}" + (f"#{pack}" if pack is not None else "")

    @property
    def redriven_from(self) -> str | None:
        return self.header(H_REDRIVEN_FROM)

    @property
    def redrive_count(self) -> int:
        return _int(self.header(H_REDRIVE_COUNT)) or 0

    @property
    def value_omitted(self) -> bool:
        return self.header(dl.H_VALUE_OMITTED) is not None

    @property
    def posting_id(self) -> str | None:
        """The event's id when the bytes parse as a PostingEvent (even an invalid one),
        else the key when it can be one: an event record is keyed by its id, and so is
        what other producers (kcat, Kafka Connect) usually write, JSON included."""
        msg = self.proto()
        if msg is not None and msg.id:
            return msg.id
        return self.key_id

    @property
    def key_id(self) -> str | None:
        """The key as a posting id; None when it cannot be one or is the coordinates a
        letter without key and value is given (``topic:partition:offset``)."""
        if self.key is None:
            return None
        try:
            key = self.key.decode("utf-8")
        except UnicodeDecodeError:
            return None
        origin = ":".join(str(self.header(h)) for h in (dl.H_TOPIC, dl.H_PARTITION, dl.H_OFFSET))
        return key if ID_PATTERN.fullmatch(key) and key != origin else None

    def proto(self) -> posting_pb2.PostingEvent | None:
        if not self.value:
            return None
        try:
            return posting_pb2.PostingEvent.FromString(self.value)
        except Exception:
            return None

    def original_headers(self) -> list[tuple[str, bytes]]:
        """The producer's headers, without the DLQ diagnosis (a pack member becomes a
        single event, so the pack's content-type is not restored)."""
        return [(k, v) for k, v in self.headers if k not in DIAGNOSIS_HEADERS]

    def decoded(self, dim: int) -> dict[str, Any]:
        """The payload for humans: validated when possible, else the raw protobuf fields,
        else base64; the embedding is summarised, not printed."""
        if self.value is None:
            note = "no value" + (" (omitted: too large)" if self.value_omitted else "")
            return {"kind": "none", "note": note}
        msg = self.proto()
        if msg is None:
            return {
                "kind": "bytes",
                "size": len(self.value),
                "base64_head": base64.b64encode(self.value[:96]).decode(),
            }
        data = MessageToDict(msg, preserving_proto_field_name=True)
        body = data.get("body")
        if isinstance(body, dict) and "embedding" in body:
            body["embedding"] = f"<{len(msg.body.embedding)} bytes>"
        try:
            decode_event(msg.id.encode(), self.value, dim=dim)
            valid, problem = True, None
        except PoisonRecord as exc:
            valid, problem = False, exc.message
        return {"kind": "PostingEvent", "valid_now": valid, "problem_now": problem, "event": data}

    def to_json(self, *, dim: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "partition": self.partition,
            "offset": self.offset,
            "dead_lettered_at": datetime.fromtimestamp(self.timestamp_ms / 1000, UTC).isoformat(),
            "error_class": self.error_class,
            "error_message": self.error_message,
            "origin": self.origin,
            "consumer_group": self.header(dl.H_CONSUMER_GROUP),
            "attempts": _int(self.header(dl.H_ATTEMPTS)),
            "first_failed_at": self.header(dl.H_FIRST_FAILED_AT),
            "posting_id": self.posting_id,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "size": len(self.value) if self.value is not None else None,
            "redriven_from": self.redriven_from,
            "redrive_count": self.redrive_count,
        }
        if dim is not None:
            out["headers"] = {k: v.decode("utf-8", "replace") for k, v in self.headers}
            out["payload"] = self.decoded(dim)
        return out


def letter_of(message: Any) -> DeadLetter:
    r = record_of(message)
    return DeadLetter(r.topic, r.partition, r.offset, message.timestamp, r.key, r.value, r.headers)


async def dlq_bounds(
    settings: Settings, client: Any, topic: str | None = None
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Start and end offsets of ``topic`` (default: postings.v1's DLQ)."""
    tps = await partitions_of(client, topic or settings.topic_dead_letters)
    return await log_bounds(client, tps)


async def iter_letters(
    settings: Settings,
    *,
    start: dict[TopicPartition, int] | None = None,
    topic: str | None = None,
) -> AsyncIterator[DeadLetter]:
    """Every dead letter of ``topic`` (default: postings.v1's DLQ; the webhook DLQ's
    letters carry the same diagnosis headers) from ``start``, default the beginning, up
    to the current end."""
    async with consumer(settings) as client:
        starts, ends = await dlq_bounds(settings, client, topic)
        begin = {tp: (start or starts).get(tp, starts[tp]) for tp in starts}
        async for record in scan(client, begin, ends):
            yield letter_of(record)


async def get_letter(
    settings: Settings, offset: int, partition: int = 0, topic: str | None = None
) -> DeadLetter:
    """One letter by its coordinates in ``topic`` (default: postings.v1's DLQ); OpsError
    when there is none there."""
    topic = topic or settings.topic_dead_letters
    async with consumer(settings) as client:
        starts, ends = await dlq_bounds(settings, client, topic)
        tp = TopicPartition(topic, partition)
        if tp not in ends:
            raise OpsError(
                f"{topic} has no partition {partition} "
                f"(partitions: {sorted(t.partition for t in ends)})"
            )
        if not starts[tp] <= offset < ends[tp]:
            raise OpsError(
                f"no dead letter at {partition}:{offset}: partition {partition} holds offsets "
                f"{starts[tp]}..{ends[tp] - 1}"
                if ends[tp] > starts[tp]
                else f"no dead letter at {partition}:{offset}: partition {partition} is empty"
            )
        async for record in scan(client, {tp: offset}, {tp: offset + 1}):
            return letter_of(record)
    raise OpsError(f"no dead letter at {partition}:{offset}")


@dataclass
class DlqSummary:
    total: int = 0
    by_class: Counter[str] = field(default_factory=Counter)
    redriven: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_error_class": dict(self.by_class.most_common()),
            "redriven": self.redriven,
        }


async def with_original_value(client: Any, letter: DeadLetter) -> DeadLetter:
    """A letter whose value the sink had to omit (too large for the DLQ) with its bytes
    read back from the original record -- postings.v1 keeps every event -- and, for a pack
    member, sliced out of the pack. Unchanged when it has a value or nothing is found."""
    if letter.value is not None or not letter.value_omitted:
        return letter
    topic = letter.header(dl.H_TOPIC)
    partition = _int(letter.header(dl.H_PARTITION))
    offset = _int(letter.header(dl.H_OFFSET))
    if topic is None or partition is None or offset is None:
        return letter
    tp = TopicPartition(topic, partition)
    async for record in scan(client, {tp: offset}, {tp: offset + 1}):
        value = record.value
        index = _int(letter.header(dl.H_PACK_INDEX))
        if value is not None and index is not None:
            try:
                value = list(split_pack(value))[index]
            except (PoisonRecord, IndexError):
                return letter
        return replace(letter, value=value)
    return letter
