"""Short-lived Kafka clients for the ops tools, with bounded retries on connect.

Every command opens its clients, does one job and closes them: an ops tool never joins
the sink's consumer group (a member would block an offset reset and trigger a
rebalance of the live workers). The clients themselves come from :mod:`schemas.kafka`;
what is added here is the retried start, a shorter request timeout (a command fails
fast) and bigger fetches and batches (rebuild and replay read and write whole logs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from schemas import kafka
from schemas.settings import Settings
from streams.ops.errors import BrokerUnreachable, OpsError

CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_MS = 15_000


async def start_client(client: Any, settings: Settings, timeout_s: float) -> None:
    """Start a client, retrying connection failures for ``timeout_s`` (a broker restarting)."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type((KafkaConnectionError, OSError, asyncio.TimeoutError)),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            stop=stop_after_delay(timeout_s),
            reraise=True,
        ):
            with attempt:
                await asyncio.wait_for(client.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise BrokerUnreachable(settings.kafka_bootstrap_servers, detail) from None


@asynccontextmanager
async def admin_client(
    settings: Settings, *, timeout_s: float | None = None
) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = kafka.admin(settings, "ops", request_timeout_ms=REQUEST_TIMEOUT_MS)
    try:
        await start_client(admin, settings, timeout_s or CONNECT_TIMEOUT_S)
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def consumer(
    settings: Settings,
    *,
    group: str | None = None,
    timeout_s: float | None = None,
    role: str = "ops",
    fetch_bytes: int = 16 * 1024 * 1024,
) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer with no subscription: callers ``assign`` partitions. With ``group`` it can
    commit for that group (generation -1, allowed only while the group has no members).
    ``fetch_bytes`` per partition and fetch: less when reading single records here and
    there (the broker still returns a first batch larger than that)."""
    client = kafka.consumer(
        settings,
        role,
        group_id=group,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_partition_fetch_bytes=fetch_bytes,
        fetch_max_bytes=4 * fetch_bytes,
    )
    try:
        await start_client(client, settings, timeout_s or CONNECT_TIMEOUT_S)
        yield client
    finally:
        await client.stop()


@asynccontextmanager
async def producer(
    settings: Settings, *, timeout_s: float | None = None, role: str = "ops"
) -> AsyncIterator[AIOKafkaProducer]:
    """acks=all and idempotent, like the gateway: a replayed record is durable when acked."""
    client = kafka.producer(
        settings,
        role,
        linger_ms=5,
        max_batch_size=1024 * 1024,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    try:
        await start_client(client, settings, timeout_s or CONNECT_TIMEOUT_S)
        yield client
    finally:
        await client.stop()


async def topic_partitions(client: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``; [] when it does not exist."""
    parts = client.partitions_for_topic(topic)
    if not parts:
        await client._client.force_metadata_update()
        parts = client.partitions_for_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(parts or ())]


async def partitions_of(client: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``; OpsError naming the topic when it does not exist."""
    tps = await topic_partitions(client, topic)
    if not tps:
        raise OpsError(f"topic {topic!r} does not exist (the right cluster? `jobstream up`)")
    return tps


async def log_bounds(
    client: AIOKafkaConsumer, tps: Sequence[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(log-start offsets, log-end offsets) of ``tps``."""
    try:
        starts = await client.beginning_offsets(list(tps))
        ends = await client.end_offsets(list(tps))
    except KafkaError as exc:
        name = tps[0].topic if tps else "?"
        raise OpsError(f"cannot read the offsets of {name}: {exc}") from None
    return dict(starts), dict(ends)
