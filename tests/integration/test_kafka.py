"""The real broker: topics, 1,000 keyed messages with headers, committed offsets."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.settings import Settings

pytestmark = pytest.mark.integration


async def test_platform_topics_exist_with_their_partitions(stack: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(stack.topics))
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    assert partitions == {
        stack.topic_postings: stack.topic_partitions,
        stack.topic_dead_letters: 1,
        stack.topic_invalidations: stack.invalidation_partitions,
        stack.topic_gateway_sequences: 1,
        stack.topic_operations: 1,
        stack.topic_api_keys: 1,
        stack.topic_saved_searches: stack.topic_partitions,
        stack.topic_alerts: stack.topic_partitions,
        stack.topic_webhook_dead_letters: 1,
    }


async def test_postings_topic_keeps_every_event(stack: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    try:
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, stack.topic_postings)]
        )
    finally:
        await admin.close()
    configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
    assert configs["retention.ms"] == "-1"
    assert configs["retention.bytes"] == "-1"
    assert configs["cleanup.policy"] == "delete"


async def test_produce_consume_1000_keyed_messages_with_headers_and_commit(
    stack: Settings,
) -> None:
    topic, group = f"it-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 3, 1)])
    await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for i in range(1000):
            await producer.send(
                topic,
                f"value-{i}".encode(),
                key=f"key-{i % 50}".encode(),
                headers=[("seq", str(i).encode()), ("origin", b"test")],
            )
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: dict[int, tuple[bytes, dict[str, bytes]]] = {}
    partition_of_key: dict[bytes, set[int]] = {}
    try:
        while len(seen) < 1000:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"stalled after {len(seen)} messages"
            for tp, records in batch.items():
                for r in records:
                    headers = dict(r.headers)
                    seen[int(headers["seq"])] = (r.key, headers)
                    partition_of_key.setdefault(r.key, set()).add(tp.partition)
        await consumer.commit()
        committed = {p: await consumer.committed(TopicPartition(topic, p)) for p in range(3)}
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(3)])
    finally:
        await consumer.stop()

    assert sorted(seen) == list(range(1000))
    assert all(headers["origin"] == b"test" for _, headers in seen.values())
    assert all(len(parts) == 1 for parts in partition_of_key.values()), "a key spans partitions"
    assert sum(committed.values()) == 1000
    assert committed == {tp.partition: off for tp, off in ends.items()}

    # A new consumer in the same group resumes at the committed offsets: nothing left.
    again = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await again.start()
    try:
        assert await again.getmany(timeout_ms=2000) == {}
    finally:
        await again.stop()
