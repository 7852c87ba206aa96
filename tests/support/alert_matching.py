"""Helpers for the alerts matcher's tests and bench: saved searches written straight into
``saved_searches`` (through the materialiser's own decode and upsert), an alerts worker
subprocess (``python -m streams.alerts``) on private topics, and alerts.v1 read back."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from google.protobuf.timestamp_pb2 import Timestamp

from schemas.jobstream.v1 import alerts_pb2
from schemas.search.filters import PostingFilter
from schemas.settings import Settings
from streams.sink.writer import register_vector_bytes
from tests.support.sink import Topics, WorkerProcess, read_all

MODES = {"HYBRID": 1, "SEMANTIC": 2, "KEYWORD": 3}


@dataclass(frozen=True)
class Saved:
    """A saved search as the tests and the oracle see it."""

    id: str
    query: str
    filter: PostingFilter
    mode: str
    min_score: float
    embedding: np.ndarray | None
    model: str = "test-random"


def saved_id() -> str:
    return "ss_" + uuid.uuid4().hex[:22]


def record(s: Saved, created: datetime | None = None) -> bytes:
    ts = Timestamp()
    ts.FromDatetime(created or datetime.now(UTC))
    return alerts_pb2.SavedSearch(
        id=s.id,
        secret_sha256=hashlib.sha256(b"secret").digest(),
        query=s.query,
        filter_json=json.dumps(s.filter.to_dict()),
        mode=MODES[s.mode],  # type: ignore[arg-type]
        min_score=s.min_score,
        query_embedding=b"" if s.embedding is None else s.embedding.astype("<f4").tobytes(),
        embedding_model=s.model if s.embedding is not None else "",
        created_at=ts,
    ).SerializeToString()


async def insert_saved(settings: Settings, searches: Iterable[Saved]) -> None:
    """Upsert ``searches`` as the materialiser would have from their topic (its own
    :func:`streams.alerts.apply.apply`, no backfill)."""
    from types import SimpleNamespace

    from streams.alerts.apply import apply

    batch = [
        SimpleNamespace(partition=0, offset=i, key=s.id.encode(), value=record(s))
        for i, s in enumerate(searches)
    ]
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await register_vector_bytes(conn)
        for start in range(0, len(batch), 2_000):
            done = await apply(conn, batch[start : start + 2_000], settings, False)
            assert done.upserted == len(batch[start : start + 2_000]), done
    finally:
        await conn.close()


async def reset_alerts(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute(
            "TRUNCATE postings, saved_searches, alerts, alerts_publisher_offsets;"
            " DELETE FROM invalidation_outbox"
        )
    finally:
        await conn.close()


async def make_alert_topics(settings: Settings, topics: Topics) -> dict[str, str]:
    """A private alerts.v1 and saved-searches.v1 and group: the worker's env."""
    tag = topics.group
    env = {
        "JOBSTREAM_TOPIC_ALERTS": f"{tag}.alerts",
        "JOBSTREAM_TOPIC_SAVED_SEARCHES": f"{tag}.saved",
        "JOBSTREAM_ALERTS_CONSUMER_GROUP": f"{tag}-alerts",
        "JOBSTREAM_ALERTS_BACKFILL_MAX": "0",
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(env["JOBSTREAM_TOPIC_ALERTS"], 3, 1),
                NewTopic(env["JOBSTREAM_TOPIC_SAVED_SEARCHES"], 1, 1),
            ]
        )
    finally:
        await admin.close()
    return env


class AlertsProcess(WorkerProcess):
    """``python -m streams.alerts`` in a subprocess on the test's topics; logs to a file."""

    module = "streams.alerts"
    metrics_env = "JOBSTREAM_ALERTS_METRICS_PORT"

    def __init__(self, topics: Topics, env: dict[str, str], log_dir: Path) -> None:
        super().__init__(topics, log_dir, "alerts", **env)


async def read_alerts(settings: Settings, topic: str, *, expect: int = 0) -> list[Any]:
    """Every Alert on ``topic`` (waits until at least ``expect``)."""
    records = await read_all(settings, topic, expect=expect, timeout=30.0 if expect else 3.0)
    return [alerts_pb2.Alert.FromString(r.value) for r in records]


async def ledger(settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch("SELECT * FROM alerts")
    finally:
        await conn.close()
    return {(r["saved_search_id"], r["posting_id"]): dict(r) for r in rows}
