"""Helpers of the alerts API tests (tests/integration/test_alerts_api.py): a private
saved-searches topic, its records read back decoded, one record applied to
``saved_searches`` as the materialiser applies it, and a ledger row added by hand.

(Rebuilt by the matcher's engineer from the test's uses after overwriting the original
by mistake; its author should check it.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings
from schemas.topics import COMPACTED
from streams.alerts import store
from streams.alerts.records import decode
from streams.sink.writer import register_vector_bytes


@dataclass(frozen=True)
class SavedRecord:
    """A saved-searches.v1 record with its value decoded."""

    key: bytes | None
    value: alerts_pb2.SavedSearch
    headers: dict[str, bytes]
    partition: int
    offset: int


async def saved_searches_topic(settings: Settings) -> str:
    """A fresh compacted saved-searches topic; its name."""
    name = f"alerts-{uuid.uuid4().hex[:8]}.saved-searches"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=dict(COMPACTED))])
    finally:
        await admin.close()
    return name


async def records(settings: Settings, topic: str) -> list[SavedRecord]:
    """Every record of ``topic`` from the start to its current end."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[SavedRecord] = []
    try:
        await consumer.seek_to_beginning()
        partitions = consumer.assignment()
        while not partitions:
            await consumer.getmany(timeout_ms=200)
            partitions = consumer.assignment()
        ends = await consumer.end_offsets(list(partitions))
        while any(await consumer.position(tp) < end for tp, end in ends.items()):
            batch = await consumer.getmany(timeout_ms=500)
            for rs in batch.values():
                for r in rs:
                    value = alerts_pb2.SavedSearch.FromString(r.value or b"")
                    headers = {k: v for k, v in r.headers}
                    out.append(SavedRecord(r.key, value, headers, r.partition, r.offset))
    finally:
        await consumer.stop()
    return out


async def materialise(settings: Settings, record: SavedRecord) -> None:
    """Apply one record to ``saved_searches`` as the materialiser does."""
    row = decode(record.key, record.value.SerializeToString(), settings.embedding_dim)
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await register_vector_bytes(conn)
        await conn.execute(store.UPSERT, *store.upsert_args(row, record.partition, record.offset))
    finally:
        await conn.close()


async def add_alert(
    settings: Settings,
    saved_search_id: str,
    posting_id: str,
    *,
    highlights: list[dict[str, Any]] | None = None,
    version: int = 1,
) -> int:
    """A ledger row for (saved search, posting), as the matcher writes it; its sequence."""
    import json

    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        sequence = await conn.fetchval(
            "INSERT INTO alerts (saved_search_id, posting_id, version, score, highlights,"
            " committed_at) VALUES ($1, $2, coalesce((SELECT version FROM postings WHERE id = $2),"
            " $3), 0.9, $4::jsonb, $5) RETURNING sequence",
            saved_search_id,
            posting_id,
            version,
            json.dumps(highlights or []),
            datetime.now(UTC),
        )
    finally:
        await conn.close()
    return int(sequence)
