"""The shared Kafka facts hold for every client, every topic and every broker config."""

from __future__ import annotations

import re
from pathlib import Path

import faust
import pytest

from infra.stack import stack
from infra.stack.paths import StackPaths
from infra.stack.topics import ClusterState, TopicState
from schemas import kafka
from schemas.settings import Settings, load_settings
from schemas.topics import topic_specs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings() -> Settings:
    return load_settings(kafka_bootstrap_servers="k1:9092,k2:9093")


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The factories hand their keywords to these stand-ins, which return them."""
    for name in ("AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"):
        monkeypatch.setattr(kafka, name, lambda **kwargs: kwargs)


@pytest.mark.usefixtures("built")
def test_producers_are_idempotent_with_acks_all_and_the_size_limit(settings: Settings) -> None:
    config = kafka.producer(settings, "gateway", linger_ms=5)
    assert config["bootstrap_servers"] == "k1:9092,k2:9093"
    assert config["client_id"] == "jobstream-gateway"
    assert config["acks"] == "all"
    assert config["enable_idempotence"] is True
    assert config["max_request_size"] == kafka.MAX_MESSAGE_BYTES
    assert config["compression_type"] == kafka.COMPRESSION_TYPE
    assert config["request_timeout_ms"] == kafka.REQUEST_TIMEOUT_MS
    assert config["linger_ms"] == 5


@pytest.mark.usefixtures("built")
def test_consumers_fetch_the_largest_record_and_never_auto_commit(settings: Settings) -> None:
    config = kafka.consumer(settings, "status", auto_offset_reset="earliest")
    assert config["client_id"] == "jobstream-status"
    assert config["max_partition_fetch_bytes"] == kafka.MAX_MESSAGE_BYTES
    assert config["fetch_max_bytes"] >= kafka.MAX_MESSAGE_BYTES
    assert config["enable_auto_commit"] is False
    assert config["auto_offset_reset"] == "earliest"
    assert config["group_id"] is None


@pytest.mark.usefixtures("built")
def test_admin_names_its_role(settings: Settings) -> None:
    config = kafka.admin(settings, "stack", request_timeout_ms=10_000)
    assert config["client_id"] == "jobstream-stack"
    assert config["request_timeout_ms"] == 10_000


async def test_real_clients_accept_the_factory_keywords(settings: Settings) -> None:
    """aiokafka checks its arguments when built: every keyword must exist and be valid."""
    producer = kafka.producer(settings, "gateway")
    consumer = kafka.consumer(settings, "status")
    admin = kafka.admin(settings, "stack")
    assert producer.client._client_id == "jobstream-gateway"
    assert consumer._client._client_id == "jobstream-status"
    assert admin._client._client_id == "jobstream-stack"
    await producer.stop()
    await consumer.stop()
    await admin.close()


def test_faust_app_uses_the_same_size_limit_acks_and_role(settings: Settings) -> None:
    app = faust.App("t", autodiscover=False, **kafka.faust_options(settings))
    conf = app.conf
    assert [str(url) for url in conf.broker] == ["kafka://k1:9092", "kafka://k2:9093"]
    assert conf.broker_client_id == "jobstream-sink"
    assert conf.consumer_max_fetch_size == kafka.MAX_MESSAGE_BYTES
    assert conf.producer_max_request_size == kafka.MAX_MESSAGE_BYTES
    assert conf.producer_acks == -1  # all in-sync replicas


def test_every_topic_and_broker_config_accepts_the_largest_record() -> None:
    defaults = load_settings()
    for spec in topic_specs(defaults):
        assert spec.config["max.message.bytes"] == str(kafka.MAX_MESSAGE_BYTES), spec.name
    compose = (ROOT / "infra" / "docker-compose.yml").read_text()
    found = re.search(r"KAFKA_MESSAGE_MAX_BYTES:\s*(\d+)", compose)
    assert found is not None
    assert int(found.group(1)) == kafka.MAX_MESSAGE_BYTES


def test_server_properties_render_the_size_limit(tmp_path: Path) -> None:
    from infra.stack.kafka import render_config

    text = render_config(load_settings(), StackPaths.create(tmp_path), 1).read_text()
    assert f"message.max.bytes={kafka.MAX_MESSAGE_BYTES}\n" in text


def test_topics_lists_every_topic_setting_and_every_created_topic() -> None:
    s = load_settings(topic_operations="ops.custom")
    fields = [
        f for f in Settings.model_fields if f.startswith("topic_") and f != "topic_partitions"
    ]
    assert set(s.topics) == {getattr(s, f) for f in fields}
    assert set(s.topics) == {spec.name for spec in topic_specs(s)}
    assert "ops.custom" in s.topics


def test_status_is_unhealthy_without_the_operations_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = load_settings(home=tmp_path)
    present = [TopicState(name, 1, 0) for name in s.topics if name != s.topic_operations]

    async def describe(settings: Settings, *, timeout: float) -> list[TopicState]:
        return present

    async def cluster(settings: Settings, *, timeout: float) -> ClusterState:
        return ClusterState(["1@127.0.0.1:9092"], 1)

    monkeypatch.setattr(stack, "describe_topics", describe)
    monkeypatch.setattr(stack, "describe_cluster", cluster)
    status = stack._kafka_status(s, StackPaths.create(tmp_path))
    assert not status.healthy
    assert "missing topics" in status.detail

    present.append(TopicState(s.topic_operations, 1, 0))
    assert stack._kafka_status(s, StackPaths.create(tmp_path)).healthy
    present.append(TopicState("postings.v1", 6, 0, replicas=3, under_replicated=2))
    degraded = stack._kafka_status(s, StackPaths.create(tmp_path))
    assert not degraded.healthy
    assert "2 under-replicated, 0 offline partition(s)" in degraded.detail
