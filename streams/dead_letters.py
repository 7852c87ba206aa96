"""Dead letters: poison records go to postings.v1.dlq with their original bytes (invariant 5
in docs/architecture.md).

The DLQ record carries the original key, value and headers untouched, plus ``x-*``
headers saying why and where it came from, so a tool can fix and replay it. For a
member of a pack the value is that member's exact bytes; the pack's content-type header
is replaced by ``x-original-content-type`` and ``x-pack-index`` (the value is a single
event now). Every send is acked by all in-sync replicas before the source offset may be
committed.

A letter always fits (no record may take a worker down): it copies at most
:data:`LETTER_HEADERS_MAX_BYTES` of the original headers (``x-headers-truncated`` says
what was dropped), goes without its value when key, value and headers would exceed
:data:`LETTER_MAX_BYTES` (``x-value-omitted``), and when Kafka still refuses it for its
size or content it is sent minimal: the diagnosis headers only, keyed by the original
coordinates. The original, with everything, stays at its offset in postings.v1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError

from schemas.kafka import MAX_MESSAGE_BYTES
from streams.sink.records import Poison

log = structlog.get_logger("streams.dead_letters")

MAX_MESSAGE_CHARS = 2000
# Original headers a letter carries at most (postings.v1's own headers are tiny; a letter
# per pack member must not copy megabytes of them each).
LETTER_HEADERS_MAX_BYTES = 64 * 1024
# A letter's key + value + headers at most: the record and batch framing must still fit
# under the DLQ topic's max.message.bytes.
LETTER_MAX_BYTES = MAX_MESSAGE_BYTES - 64 * 1024

H_ERROR_CLASS = "x-error-class"
H_ERROR_MESSAGE = "x-error-message"
H_TOPIC = "x-original-topic"
H_PARTITION = "x-original-partition"
H_OFFSET = "x-original-offset"
H_FIRST_FAILED_AT = "x-first-failed-at"
H_ATTEMPTS = "x-attempts"
H_PACK_INDEX = "x-pack-index"
H_CONTENT_TYPE = "x-original-content-type"
H_CONSUMER_GROUP = "x-consumer-group"
H_VALUE_OMITTED = "x-value-omitted"
H_HEADERS_TRUNCATED = "x-headers-truncated"
Headers = list[tuple[str, bytes]]


def dead_letter_headers(poison: Poison, *, group: str) -> Headers:
    """Original headers (minus a pack's content-type for a member; at most
    LETTER_HEADERS_MAX_BYTES of them) + the x-* diagnosis."""
    headers: Headers = []
    dropped = dropped_bytes = 0
    budget = LETTER_HEADERS_MAX_BYTES
    for key, value in poison.record.headers:
        size = len(key.encode("utf-8", "replace")) + len(value)
        if size > budget:
            dropped, dropped_bytes = dropped + 1, dropped_bytes + size
            continue
        budget -= size
        if poison.pack_index is not None and key.lower() == "content-type":
            headers.append((H_CONTENT_TYPE, value))
        else:
            headers.append((key, value))
    headers += diagnosis_headers(poison, group=group)
    if dropped:
        note = (
            f"dropped {dropped} of {len(poison.record.headers)} original headers "
            f"({dropped_bytes} bytes; a letter copies at most {LETTER_HEADERS_MAX_BYTES}); "
            "the original record keeps them"
        )
        headers.append((H_HEADERS_TRUNCATED, note.encode()))
    return headers


def diagnosis_headers(poison: Poison, *, group: str) -> Headers:
    """The x-* headers saying why and where from: small and bounded whatever the record."""
    record = poison.record
    first = datetime.fromtimestamp(poison.first_failed_at, UTC).isoformat().replace("+00:00", "Z")
    headers = [
        (H_ERROR_CLASS, poison.error_class.encode()),
        (H_ERROR_MESSAGE, poison.message[:MAX_MESSAGE_CHARS].encode("utf-8", "replace")),
        (H_TOPIC, record.topic.encode()),
        (H_PARTITION, str(record.partition).encode()),
        (H_OFFSET, str(record.offset).encode()),
        (H_FIRST_FAILED_AT, first.encode()),
        (H_ATTEMPTS, str(poison.attempts).encode()),
        (H_CONSUMER_GROUP, group.encode()),
    ]
    if poison.pack_index is not None:
        headers.append((H_PACK_INDEX, str(poison.pack_index).encode()))
    return headers


def letter_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Bytes of a letter's key, value and headers (the framing is LETTER_MAX_BYTES' margin)."""
    return (
        len(key or b"")
        + len(value or b"")
        + sum(len(k.encode("utf-8", "replace")) + len(v) for k, v in headers)
    )


class DeadLetters:
    """Sends poison to the DLQ topic and waits for every ack."""

    def __init__(self, producer: AIOKafkaProducer, topic: str, *, group: str) -> None:
        self._producer = producer
        self._topic = topic
        self._group = group

    async def send(self, poison: Sequence[Poison]) -> None:
        """All-or-error: returns only when Kafka acked every record (a retry may duplicate)."""
        if not poison:
            return
        await asyncio.gather(*(self._send_one(item) for item in poison))
        for item in poison:
            log.warning(
                "dead-lettered",
                error_class=item.error_class,
                topic=item.record.topic,
                partition=item.record.partition,
                offset=item.record.offset,
                pack_index=item.pack_index,
                reason=item.message[:300],
            )

    async def _send_one(self, item: Poison) -> None:
        headers = dead_letter_headers(item, group=self._group)
        key, value = letter_key(item.record.key, item), item.value
        if letter_size(key, value, headers) > LETTER_MAX_BYTES:
            # The original stays in postings.v1 forever: point at it rather than lose it.
            headers.append((H_VALUE_OMITTED, b"too large; read it at the original offset"))
            key, value = letter_key(item.record.key, item, omitted=True), None
        if letter_size(key, value, headers) <= LETTER_MAX_BYTES:
            try:
                await (await self._producer.send(self._topic, value, key=key, headers=headers))
                return
            except KafkaError as exc:
                if exc.retriable or isinstance(exc, KafkaTimeoutError):
                    raise  # the world, not the letter: retried with the offset held
                log.warning("dead letter refused, sending it minimal", error=repr(exc)[:300])
        key, headers = minimal_letter(item, self._group)
        await (await self._producer.send(self._topic, None, key=key, headers=headers))


def minimal_letter(item: Poison, group: str) -> tuple[bytes, Headers]:
    """The smallest letter that still says what failed and where the original is."""
    headers = diagnosis_headers(item, group=group)
    headers.append((H_VALUE_OMITTED, b"letter too large or refused; read the original offset"))
    headers.append((H_HEADERS_TRUNCATED, b"all original headers dropped"))
    record = item.record
    return f"{record.topic}:{record.partition}:{record.offset}".encode(), headers


def letter_key(key: bytes | None, item: Poison, *, omitted: bool = False) -> bytes | None:
    """The original key, or the original coordinates when there is none and no value
    either: Kafka refuses a record with neither (a pack member's record has no key)."""
    if key is not None or (item.value is not None and not omitted):
        return key
    record = item.record
    return f"{record.topic}:{record.partition}:{record.offset}".encode()
