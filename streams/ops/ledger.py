"""The redrive ledger: which dead letters were already re-produced, and where to.

Kept in a compacted Kafka topic, ``<dlq topic>.redriven``, one record per redriven letter,
keyed ``<partition>:<offset>`` of the letter in the DLQ. Why a keyed ledger rather than a
committed consumer-group offset on the DLQ: a redrive may be filtered (``--error-class``)
or limited (``--limit``), so what was redriven is a set, not a prefix -- an offset would
either skip the letters a filter left behind or redrive the same ones again. Why Kafka
rather than PostgreSQL: the read model can be dropped and rebuilt from the log
(invariant 1, docs/architecture.md); the record of what was re-produced into that log
belongs with it.
Compaction is safe: no Faust agent reads this topic, and a letter is written once.

A ledger entry is written after its record was acked by postings.v1 (acks=all): a
crash in between redrives that letter again next time, which the version rules make a
no-op (invariant 4) -- at least once, never lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.settings import Settings
from schemas.topics import create_missing, redrive_ledger_spec
from streams.ops.kafka import admin_client, consumer, log_bounds, topic_partitions
from streams.ops.scan import scan


def ledger_topic(settings: Settings, dlq: str | None = None) -> str:
    """The ledger of ``dlq`` (default: postings.v1's DLQ)."""
    return redrive_ledger_spec(settings, dlq).name


@dataclass(frozen=True)
class LedgerEntry:
    letter: str  # "<dlq partition>:<offset>"
    to: str  # "<topic>:<partition>:<offset>" of the re-produced record
    error_class: str
    run: str
    at: str

    def encode(self) -> bytes:
        return json.dumps(
            {"to": self.to, "error_class": self.error_class, "run": self.run, "at": self.at}
        ).encode()


async def ensure_ledger(settings: Settings, dlq: str | None = None) -> str:
    """Create the ledger topic of ``dlq`` if missing (idempotent); return its name."""
    spec = redrive_ledger_spec(settings, dlq)
    async with admin_client(settings) as admin:
        await create_missing(admin, [spec])
    return spec.name


async def read_ledger(settings: Settings, dlq: str | None = None) -> dict[str, dict[str, Any]]:
    """letter coordinates -> what the ledger says of it; {} when nothing was redriven yet."""
    name = ledger_topic(settings, dlq)
    async with consumer(settings) as client:
        tps = await topic_partitions(client, name)
        if not tps:
            return {}
        starts, ends = await log_bounds(client, tps)
        done: dict[str, dict[str, Any]] = {}
        async for record in scan(client, starts, ends):
            if record.key is None:
                continue
            key = record.key.decode()
            if record.value is None:
                done.pop(key, None)
            else:
                try:
                    done[key] = json.loads(record.value)
                except ValueError:
                    done[key] = {}
        return done


async def record(producer: AIOKafkaProducer, topic: str, entries: Iterable[LedgerEntry]) -> None:
    """Write entries and wait for every ack."""
    futures = [await producer.send(topic, e.encode(), key=e.letter.encode()) for e in entries]
    for f in futures:
        await f
