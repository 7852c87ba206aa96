"""Helpers for the gateway's tests and benches: valid sample postings, an in-process
gateway on a private topic, and what it wrote to Kafka (packs expanded into members)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

from gateway.kafka_writer import RecordFormat
from gateway.server import Gateway
from schemas.domain import Posting, PostingDeleted, decode_event, from_json, validate_event
from schemas.jobstream.v1 import posting_pb2
from schemas.settings import Settings
from schemas.topics import CONTENT_TYPE_EVENT, CONTENT_TYPE_PACK, partition_for


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


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


class TopicWatch:
    """Records appended to a topic after :meth:`mark`."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.start: dict[TopicPartition, int] = {}

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        return consumer

    async def mark(self) -> TopicWatch:
        consumer = await self._consumer()
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in parts]
            self.start = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return self

    async def records(self) -> list[Record]:
        consumer = await self._consumer()
        try:
            tps = list(self.start)
            ends = await consumer.end_offsets(tps)
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.start[tp])
            out: list[Record] = []
            remaining = {tp for tp in tps if ends[tp] > self.start[tp]}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=5000)
                for tp, msgs in batches.items():
                    for m in msgs:
                        if m.offset < ends[tp]:
                            out.append(
                                Record(m.key, m.value, dict(m.headers), tp.partition, m.offset)
                            )
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            return out
        finally:
            await consumer.stop()


@dataclass(frozen=True)
class Written:
    """One event as it sits in Kafka (a pack is expanded into its members)."""

    id: str
    event: Posting | PostingDeleted
    record: Record
    pack_index: int | None


def expand(records: list[Record], dim: int, partitions: int) -> list[Written]:
    """Decode single-event records and packs, checking each layout's invariants."""
    out: list[Written] = []
    for r in records:
        if r.headers.get("content-type") == CONTENT_TYPE_PACK.encode():
            assert r.key is None
            pack = posting_pb2.PostingEventPack.FromString(r.value)
            for index, msg in enumerate(pack.events):
                event = validate_event(msg, dim=dim)
                assert partition_for(event.id.encode(), partitions) == r.partition
                out.append(Written(event.id, event, r, index))
        else:
            assert r.headers.get("content-type") == CONTENT_TYPE_EVENT.encode()
            event = decode_event(r.key, r.value, dim=dim)  # checks key == id
            out.append(Written(event.id, event, r, None))
    return out


async def written(watch: TopicWatch, prefix: str) -> list[Written]:
    """Events of this test (ids starting with ``prefix``) in log order per partition."""
    events = expand(await watch.records(), watch.settings.embedding_dim, len(watch.start))
    mine = [w for w in events if w.id.startswith(prefix + ":")]
    return sorted(mine, key=lambda w: (w.record.partition, w.record.offset, w.pack_index or 0))
