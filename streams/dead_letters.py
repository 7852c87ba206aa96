"""Dead letters: poison records go to postings.v1.dlq with their original bytes (invariant 5
in docs/architecture.md).

The DLQ record carries the original key, value and headers untouched, plus ``x-*``
headers saying why and where it came from, so a tool can fix and replay it. For a
member of a pack the value is that member's exact bytes; the pack's content-type header
is replaced by ``x-original-content-type`` and ``x-pack-index`` (the value is a single
event now). Every send is acked by all in-sync replicas before the source offset may be
committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError

from streams.sink.records import Poison

log = structlog.get_logger("streams.dead_letters")

MAX_MESSAGE_CHARS = 2000

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


def dead_letter_headers(poison: Poison, *, group: str) -> list[tuple[str, bytes]]:
    """Original headers (minus a pack's content-type for a member) + the x-* diagnosis."""
    record = poison.record
    headers: list[tuple[str, bytes]] = []
    for key, value in record.headers:
        if poison.pack_index is not None and key.lower() == "content-type":
            headers.append((H_CONTENT_TYPE, value))
        else:
            headers.append((key, value))
    first = datetime.fromtimestamp(poison.first_failed_at, UTC).isoformat().replace("+00:00", "Z")
    headers += [
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
        key = item.record.key
        try:
            await (
                await self._producer.send(
                    self._topic, item.value, key=letter_key(key, item), headers=headers
                )
            )
        except MessageSizeTooLargeError:
            # Too big for the producer or the broker once the headers are added. The
            # original stays in postings.v1 forever: point at it rather than lose it.
            headers.append((H_VALUE_OMITTED, b"too large; read it at the original offset"))
            await (
                await self._producer.send(
                    self._topic, None, key=letter_key(key, item, omitted=True), headers=headers
                )
            )


def letter_key(key: bytes | None, item: Poison, *, omitted: bool = False) -> bytes | None:
    """The original key, or the original coordinates when there is none and no value
    either: Kafka refuses a record with neither (a pack member's record has no key)."""
    if key is not None or (item.value is not None and not omitted):
        return key
    record = item.record
    return f"{record.topic}:{record.partition}:{record.offset}".encode()
