"""Create the platform's topics (idempotent) and describe them for `status`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from infra.stack.errors import ServiceError
from schemas import kafka
from schemas.settings import Settings
from schemas.topics import create_missing, topic_specs


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    messages: int


async def ensure_topics(settings: Settings, *, timeout: float = 60.0) -> list[str]:
    """Create missing topics; return the names created. Existing ones are left as they are."""
    admin = await _admin(settings, timeout)
    try:
        return await create_missing(admin, topic_specs(settings))
    finally:
        await admin.close()


async def describe(settings: Settings, *, timeout: float = 10.0) -> list[TopicState]:
    """Partitions and message counts (log-end minus log-start offsets) per platform topic."""
    consumer = kafka.consumer(settings, "status", request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(consumer.start(), timeout)
    try:
        states = []
        for spec in topic_specs(settings):
            parts = consumer.partitions_for_topic(spec.name)
            if parts is None:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(spec.name)
            if not parts:
                continue
            tps = [TopicPartition(spec.name, p) for p in parts]
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            count = sum(ends[tp] - starts[tp] for tp in tps)
            states.append(TopicState(spec.name, len(tps), count))
        return states
    finally:
        await consumer.stop()


async def _admin(settings: Settings, timeout: float) -> AIOKafkaAdminClient:
    deadline = asyncio.get_running_loop().time() + timeout
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        admin = kafka.admin(settings, "stack", request_timeout_ms=10_000)
        try:
            await admin.start()
            await admin.list_topics()
            return admin
        except (KafkaError, OSError) as exc:
            last = exc
            await admin.close()
            await asyncio.sleep(0.5)
    raise ServiceError(
        "kafka",
        f"no broker answered at {settings.kafka_bootstrap_servers} ({last})",
        hint="run `jobstream up`, or check JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS",
    )
