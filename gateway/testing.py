"""Helpers for tests and benchmarks: valid sample postings and an in-process gateway.

Shipped with the package (not under tests/) so tests, benchmarks and the CLI smoke test
share one definition of "a valid posting".
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import numpy as np

from gateway.kafka_writer import RecordFormat
from gateway.server import Gateway
from schemas.domain import from_json
from schemas.jobstream.v1 import posting_pb2
from schemas.settings import Settings


def sample_json(i: int = 0, *, dim: int = 384, version: int = 1, **changes: Any) -> dict[str, Any]:
    """A valid NDJSON posting with id ``test:<i>``; keyword arguments replace keys."""
    data: dict[str, Any] = {
        "id": f"test:{i}",
        "version": version,
        "title": f"Backend Engineer {i}",
        "company": "ACME GmbH",
        "location": {"city": "Berlin", "country_code": "DE"},
        "remote_mode": "HYBRID",
        "employment_type": "FULL_TIME",
        "experience_min_years": 2,
        "experience_max_years": 6,
        "english_level": "BUSINESS",
        "skills": ["python", "kafka"],
        "salary": {"min": 60_000, "max": 80_000, "currency": "EUR"},
        "description": "Build the ingest pipeline.",
        "posted_at": "2026-11-20T09:30:00Z",
        "embedding": _vector(dim).tolist(),
        "embedding_model": "test-embedder",
    }
    data.update(changes)
    return data


@lru_cache(maxsize=8)
def _vector(dim: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    vector = np.random.default_rng(dim).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


@lru_cache(maxsize=8)
def _template(dim: int) -> bytes:
    return from_json(sample_json(0, dim=dim)).SerializeToString()


def sample_event(i: int = 0, *, dim: int = 384, version: int = 1) -> posting_pb2.PostingEvent:
    """The wire form of ``sample_json(i)``, built cheaply from a cached template."""
    msg = posting_pb2.PostingEvent.FromString(_template(dim))
    msg.id = f"test:{i}"
    msg.version = version
    msg.body.title = f"Backend Engineer {i}"
    return msg


async def private_topics(settings: Settings, partitions: int = 6) -> Settings:
    """``settings`` with a fresh postings topic, so tests never write to the real one."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"gateway-test-postings-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    return settings.model_copy(update={"topic_postings": topic, "topic_partitions": partitions})


@asynccontextmanager
async def running_gateway(
    settings: Settings,
    *,
    record_format: RecordFormat | None = None,
    grace: float = 5.0,
    **overrides: Any,
) -> AsyncIterator[Gateway]:
    """A started gateway on ``settings`` with ``overrides`` (e.g. gateway_port=...)."""
    overrides.setdefault("gateway_metrics_port", 0)
    gateway = Gateway(
        settings.model_copy(update=overrides), record_format=record_format, metrics_server=False
    )
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop(grace)
