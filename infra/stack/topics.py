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
    replicas: int = 1  # of its first partition
    under_replicated: int = 0  # partitions whose in-sync replicas are fewer than replicas
    offline: int = 0  # partitions without a leader


@dataclass(frozen=True)
class ClusterState:
    brokers: list[str]  # "id@host:port"
    controller: int | None  # what Metadata reports; `quorum` names the KRaft leader


async def ensure_topics(settings: Settings, *, timeout: float = 60.0) -> list[str]:
    """Create missing topics; return the names created. Existing ones are left as they are."""
    admin = await _admin(settings, timeout)
    try:
        return await create_missing(admin, topic_specs(settings))
    finally:
        await admin.close()


async def describe(settings: Settings, *, timeout: float = 10.0) -> list[TopicState]:
    """Partitions, message counts (log-end minus log-start offsets) and replication per
    platform topic."""
    consumer = kafka.consumer(settings, "status", request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(consumer.start(), timeout)
    admin = await _admin(settings, timeout)
    try:
        names = [spec.name for spec in topic_specs(settings)]
        meta = {t["topic"]: t for t in await admin.describe_topics(names) if not t["error_code"]}
        states = []
        for name in names:
            parts = meta.get(name, {}).get("partitions") or []
            if not parts:
                continue
            tps = [TopicPartition(name, p["partition"]) for p in parts]
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            count = sum(ends[tp] - starts[tp] for tp in tps)
            first = min(parts, key=lambda p: p["partition"])
            states.append(
                TopicState(
                    name,
                    len(tps),
                    count,
                    replicas=len(first["replicas"]),
                    under_replicated=sum(len(p["isr"]) < len(p["replicas"]) for p in parts),
                    offline=sum(p["leader"] < 0 for p in parts),
                )
            )
        return states
    finally:
        await consumer.stop()
        await admin.close()


async def cluster(settings: Settings, *, timeout: float = 10.0) -> ClusterState:
    """The brokers the cluster's metadata lists."""
    admin = await _admin(settings, timeout)
    try:
        found = await admin.describe_cluster()
    finally:
        await admin.close()
    brokers = sorted(found.get("brokers", ()), key=lambda b: b["node_id"])
    return ClusterState(
        [f"{b['node_id']}@{b['host']}:{b['port']}" for b in brokers], found.get("controller_id")
    )


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
