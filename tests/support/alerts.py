"""Helpers of the alerts API tests (tests/integration/test_alerts_api.py): a private
saved-searches topic, its records read back decoded, one record applied to
``saved_searches`` as the materialiser applies it, and a ledger row added by hand.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings
from schemas.topics import COMPACTED


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
    """Every record of the (one-partition) ``topic`` from the start to its current end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    out: list[SavedRecord] = []
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, (await consumer.beginning_offsets([tp]))[tp])
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for r in batch.get(tp, []):
                value = alerts_pb2.SavedSearch.FromString(r.value or b"")
                headers = {k: v for k, v in r.headers}
                out.append(SavedRecord(r.key, value, headers, r.partition, r.offset))
    finally:
        await consumer.stop()
    return out


async def materialise(settings: Settings, record: SavedRecord) -> None:
    """Apply one record to ``saved_searches`` as the materialiser does."""
    from types import SimpleNamespace

    from streams.alerts.apply import apply
    from streams.sink.writer import register_vector_bytes

    raw = SimpleNamespace(
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value.SerializeToString(),
    )
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await register_vector_bytes(conn)
        await apply(conn, [raw], settings, False)
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
    """A ledger row for (saved search, posting), as the matcher writes it and the
    publisher marks it; its published sequence (the API's cursor)."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        sequence = await conn.fetchval(
            "INSERT INTO alerts (saved_search_id, posting_id, version, score, highlights,"
            " committed_at, published, published_sequence) VALUES ($1, $2,"
            " coalesce((SELECT version FROM postings WHERE id = $2), $3), 0.9, $4::jsonb, $5,"
            " true, nextval('alerts_published_sequence')) RETURNING published_sequence",
            saved_search_id,
            posting_id,
            version,
            json.dumps(highlights or []),
            datetime.now(UTC),
        )
    finally:
        await conn.close()
    return int(sequence)
