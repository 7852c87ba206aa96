"""Stream an input's postings through :class:`IngestClient` and tally the outcome.

Batches are cut at ``batch_size`` postings or ~3/4 of the gateway's message limit,
whichever comes first, so a file of long descriptions never trips RESOURCE_EXHAUSTED;
a single posting too big for any message is rejected locally as TOO_LONG. Each batch's
tag is the list of its input labels, so a rejection's ``index`` maps back to its line.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gateway.client import IngestClient
from gateway.sources import Item, LocalRejection
from schemas.jobstream.v1 import ingest_pb2, posting_pb2

MAX_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class Example:
    label: str
    id: str
    reason: str
    message: str

    @property
    def position(self) -> int:
        """The number in ``line 12`` / ``posting 7``, to list examples in input order."""
        tail = self.label.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0


@dataclass
class ProduceResult:
    """What happened to every posting of the input."""

    producer_id: str
    target: str
    accepted: int = 0
    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: list[Example] = field(default_factory=list)
    resumed_from: int = 0
    first_sequence: int = 0
    last_sequence: int = 0
    duplicate_batches: int = 0
    reconnects: int = 0
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return self.accepted + self.rejected

    def reject(self, label: str, posting_id: str, reason: str, message: str) -> None:
        self.rejected += 1
        self.reasons[reason] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(Example(label, posting_id, reason, message))

    def sorted_examples(self) -> list[Example]:
        """The first rejections to arrive (local ones come before the gateway's acks),
        shown in input order."""
        return sorted(self.examples, key=lambda e: e.position)

    def to_json(self) -> dict[str, Any]:
        return {
            "producer_id": self.producer_id,
            "gateway": self.target,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "reasons": dict(self.reasons.most_common()),
            "examples": [
                {"where": e.label, "id": e.id, "reason": e.reason, "message": e.message}
                for e in self.sorted_examples()
            ],
            "resumed_from_sequence": self.resumed_from,
            "sequences": [self.first_sequence, self.last_sequence] if self.last_sequence else [],
            "duplicate_batches": self.duplicate_batches,
            "reconnects": self.reconnects,
            "elapsed_s": round(self.elapsed_s, 3),
            "postings_per_s": round(self.total / self.elapsed_s, 1) if self.elapsed_s else None,
        }


async def _aiter(items: Iterable[Item] | AsyncIterable[Item]) -> Any:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def produce_items(
    items: Iterable[Item] | AsyncIterable[Item],
    *,
    target: str,
    producer_id: str,
    token: str | None = None,
    batch_size: int = 500,
    window: int = 8,
    max_message_bytes: int = 16 * 1024 * 1024,
    reconnect_timeout_s: float = 60.0,
    on_progress: Callable[[int], None] | None = None,
) -> ProduceResult:
    """Send every item; return the tally. Raises IngestError when the gateway refuses."""
    result = ProduceResult(producer_id=producer_id, target=target)
    progress = on_progress or (lambda _n: None)
    started = time.monotonic()

    def on_ack(ack: ingest_pb2.IngestAck, labels: list[str]) -> None:
        result.accepted += len(ack.accepted_ids)
        result.duplicate_batches += int(ack.duplicate)
        result.last_sequence = max(result.last_sequence, ack.sequence)
        for r in ack.rejections:
            label = labels[r.index] if r.index < len(labels) else f"batch {ack.sequence}"
            reason = ingest_pb2.RejectReason.Name(r.reason) if r.reason else "UNSPECIFIED"
            result.reject(label, r.id, reason, f"{label}: {r.message}")
        progress(len(ack.accepted_ids) + len(ack.rejections))

    client = IngestClient(
        target,
        producer_id=producer_id,
        token=token,
        window=window,
        max_message_bytes=max_message_bytes,
        reconnect_timeout_s=reconnect_timeout_s,
        on_ack=on_ack,
    )
    byte_budget = max(1024, max_message_bytes * 3 // 4)
    single_max = max_message_bytes - 1024
    async with client:
        result.resumed_from = client.resumed_from
        result.first_sequence = client.next_sequence
        events: list[posting_pb2.PostingEvent] = []
        labels: list[str] = []
        size = 0
        async for item in _aiter(items):
            if item.rejection is not None:
                _local(result, item.label, item.rejection)
                progress(1)
                continue
            assert item.event is not None
            item_size = item.event.ByteSize()
            if item_size > single_max:
                message = (
                    f"{item.label}: posting is {item_size} bytes; the gateway accepts messages "
                    f"up to {max_message_bytes} bytes (JOBSTREAM_MAX_MESSAGE_BYTES)"
                )
                result.reject(item.label, item.event.id[:200], "TOO_LONG", message)
                progress(1)
                continue
            if events and (len(events) >= batch_size or size + item_size > byte_budget):
                await client.send(events, labels)
                events, labels, size = [], [], 0
            events.append(item.event)
            labels.append(item.label)
            size += item_size + 8
        if events:
            await client.send(events, labels)
        await client.flush()
        result.reconnects = client.reconnects
    if result.last_sequence == 0:
        result.first_sequence = 0
    result.elapsed_s = time.monotonic() - started
    return result


def _local(result: ProduceResult, label: str, rejection: LocalRejection) -> None:
    result.reject(label, rejection.id, rejection.reason, rejection.message)
