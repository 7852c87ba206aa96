"""Every Kafka client the platform opens is built here, so a shared fact changes in one place.

The facts: where the brokers are (``Settings.kafka_bootstrap_servers``); that every producer
is idempotent with acks=all, so an acknowledged record is durable and a retried send is
never written twice (invariant 2, docs/architecture.md); that nothing auto-commits offsets
(the sink commits from its own checkpoints, every other reader assigns partitions and
commits nothing); the largest record (:data:`MAX_MESSAGE_BYTES`, which the topics, the local
broker, every producer and every consumer's fetch agree on); no compression; one request
timeout; and a client id naming the role, so broker logs and metrics say who connected.

Callers pass only what is theirs: batching for throughput, a shorter timeout where a
command must fail fast, a consumer's group or start position. Sends are retried by the
client until the request timeout; connecting is retried by the callers that need it.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from schemas.settings import Settings

# The largest record any client may write and every topic and broker must accept: a
# dead letter carries a whole 512 KiB pack plus headers, a replayed record the same.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# Embeddings are float32 noise to a compressor, and the workers' cores are better spent
# decoding; a broker-side or per-site change starts here.
COMPRESSION_TYPE: str | None = None
REQUEST_TIMEOUT_MS = 30_000

OffsetReset = Literal["earliest", "latest"]


def client_id(role: str) -> str:
    """The id a client shows the broker: ``jobstream-<role>``."""
    return f"jobstream-{role}"


def producer(
    settings: Settings,
    role: str,
    *,
    linger_ms: int = 0,
    max_batch_size: int = 16 * 1024,
    request_timeout_ms: int = REQUEST_TIMEOUT_MS,
    transactional_id: str | None = None,
    transaction_timeout_ms: int = 60_000,
) -> AIOKafkaProducer:
    """An idempotent acks=all producer (not started): acked means durable, never twice.

    With a ``transactional_id``, starting it fences every earlier producer of that id
    cluster-wide (Kafka bumps the id's epoch), and it may send only in transactions."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id(role),
        acks="all",
        enable_idempotence=True,
        compression_type=COMPRESSION_TYPE,
        max_request_size=MAX_MESSAGE_BYTES,
        linger_ms=linger_ms,
        max_batch_size=max_batch_size,
        request_timeout_ms=request_timeout_ms,
        transactional_id=transactional_id,
        transaction_timeout_ms=transaction_timeout_ms,
    )


def consumer(
    settings: Settings,
    role: str,
    *,
    group_id: str | None = None,
    auto_offset_reset: OffsetReset = "latest",
    fetch_max_wait_ms: int = 500,
    max_partition_fetch_bytes: int = MAX_MESSAGE_BYTES,
    fetch_max_bytes: int = 50 * 1024 * 1024,
    request_timeout_ms: int = REQUEST_TIMEOUT_MS,
    isolation_level: Literal["read_uncommitted", "read_committed"] = "read_uncommitted",
) -> AIOKafkaConsumer:
    """A consumer with no subscription and no auto-commit (not started): callers assign.

    ``read_committed`` only where a topic is written in transactions (the gateway's
    sequences): its end offset is then the last stable one, not the high watermark."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id(role),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset=auto_offset_reset,
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=max_partition_fetch_bytes,
        fetch_max_bytes=fetch_max_bytes,
        request_timeout_ms=request_timeout_ms,
        isolation_level=isolation_level,
    )


def admin(
    settings: Settings, role: str, *, request_timeout_ms: int = REQUEST_TIMEOUT_MS
) -> AIOKafkaAdminClient:
    """An admin client (not started)."""
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id(role),
        request_timeout_ms=request_timeout_ms,
    )


class FaustOptions(TypedDict):
    """The Kafka part of a sink worker's Faust app config (``faust.App`` keywords)."""

    broker: list[str]
    broker_client_id: str
    consumer_max_fetch_size: int
    producer_acks: int
    producer_compression_type: str | None
    producer_max_request_size: int


def faust_options(settings: Settings) -> FaustOptions:
    """Faust's own consumer and producer, configured from the same facts."""
    return {
        "broker": [f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
        "broker_client_id": client_id("sink"),
        "consumer_max_fetch_size": MAX_MESSAGE_BYTES,
        "producer_acks": -1,  # all in-sync replicas, as every other producer
        "producer_compression_type": COMPRESSION_TYPE,
        "producer_max_request_size": MAX_MESSAGE_BYTES,
    }
