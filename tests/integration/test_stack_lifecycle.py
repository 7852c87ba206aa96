"""`jobstream up/status/down` as a user runs them, on a private stack of their own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.cli import jobstream, kafka_row, pids, processes_under, until
from tests.support.provision import free_port, local_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("JOBSTREAM_TEST_EXTERNAL") == "1",
        reason="JOBSTREAM_TEST_EXTERNAL=1: the suite must not start local services",
    ),
]


async def _produce(bootstrap: str, topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(n):
            await producer.send(topic, f"m{i}".encode(), key=f"k{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _count(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        seen = 0
        while batch := await consumer.getmany(timeout_ms=3000):
            seen += sum(len(records) for records in batch.values())
        return seen
    finally:
        await consumer.stop()


def test_up_is_idempotent_survives_kill_9_and_down_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "stack"
    env = local_env(home)
    bootstrap = env["JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    try:
        jobstream(env, "up")
        first = pids(home)
        assert set(first) == {"kafka", "postgres", "redis"}

        second = jobstream(env, "up")
        assert "already running" in second.stdout
        assert pids(home) == first, "a second `up` must not restart anything"

        status = json.loads(jobstream(env, "status", "--json").stdout)
        by_name = {s["name"]: s for s in status}
        assert all(s["healthy"] for s in status)
        assert by_name["kafka"]["extra"]["version"].startswith("4.")
        assert {t["name"] for t in by_name["kafka"]["extra"]["topics"]} == {
            "postings.v1",
            "postings.v1.dlq",
            "cache-invalidation.v1",
            "gateway-sequences.v1",
            "operations.v1",
            "api-keys.v1",
            "saved-searches.v1",
            "alerts.v1",
            "alerts.v1.webhook-dlq",
        }
        assert by_name["postgres"]["extra"]["version"].startswith("18")
        assert by_name["postgres"]["extra"]["vector"].startswith("0.8")

        asyncio.run(_produce(bootstrap, "postings.v1", 200))
        os.kill(first["kafka"], signal.SIGKILL)
        psutil.Process(first["kafka"]).wait(10) if psutil.pid_exists(first["kafka"]) else None
        assert jobstream(env, "status", check=False).returncode == 1

        jobstream(env, "up")
        assert pids(home)["kafka"] != first["kafka"]
        assert pids(home)["postgres"] == first["postgres"]
        assert asyncio.run(_count(bootstrap, "postings.v1")) == 200
    finally:
        jobstream(env, "down", check=False)

    assert processes_under(home) == []
    for pid in first.values():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert (home / "data" / "kafka" / "meta.properties").exists(), "data survives `down`"

    jobstream(env, "down", "--purge")
    assert not (home / "data").exists()


def kafka_topics_describe(bootstrap: str, topic: str) -> str:
    """Kafka's own `kafka-topics --describe`, from the jars `up` runs."""
    from infra.stack.kafka import java, resolve_runtime
    from schemas.settings import load_settings

    runtime = resolve_runtime(load_settings())
    done = subprocess.run(
        [java(), "-cp", runtime.classpath, "org.apache.kafka.tools.TopicCommand",
         "--bootstrap-server", bootstrap, "--describe", "--topic", topic],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def test_a_three_node_cluster_replicates_and_status_reports_a_lost_broker(
    tmp_path: Path,
) -> None:
    """`up --kafka-brokers 3`: three KRaft nodes, every topic with 3 replicas and
    min.insync.replicas 2 (as Kafka's own tool reports them); a kill -9 of one node
    leaves acks=all writes working and status naming the under-replicated partitions;
    `up` brings it back and the ISRs fill again; `down` stops exactly them."""
    home = tmp_path / "cluster"
    env = local_env(home, kafka_brokers=3)
    base = int(env["JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    every = ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3))
    try:
        jobstream(env, "up", "--kafka-brokers", "3")
        started = pids(home)
        assert {"kafka", "kafka-2", "kafka-3"} <= set(started)
        row = kafka_row(env)
        assert row["healthy"], row["detail"]
        extra = row["extra"]
        assert extra["brokers"] == [f"{i + 1}@127.0.0.1:{base + 2 * i}" for i in range(3)]
        assert extra["quorum"]["voters"] == [1, 2, 3]
        assert {t["replicas"] for t in extra["topics"]} == {3}
        described = kafka_topics_describe(every, "postings.v1")
        assert "ReplicationFactor: 3" in described
        assert "min.insync.replicas=2" in described

        asyncio.run(_produce(every, "postings.v1", 200))
        os.kill(started["kafka-3"], signal.SIGKILL)
        until(
            lambda: kafka_row(env)["extra"].get("under_replicated_partitions", 0) > 0,
            60,
            "status to report under-replicated partitions",
        )
        row = kafka_row(env)
        assert not row["healthy"]
        assert "2 of 3 brokers" in row["detail"]
        assert jobstream(env, "status", check=False).returncode == 1
        asyncio.run(_produce(every, "postings.v1", 200))  # 2 in sync: acks=all still works

        jobstream(env, "up", "--kafka-brokers", "3")
        assert pids(home)["kafka"] == started["kafka"]  # only the lost node restarted
        until(lambda: kafka_row(env)["healthy"], 90, "the ISRs to fill again")
        assert asyncio.run(_count(every, "postings.v1")) == 400
    finally:
        jobstream(env, "down", check=False)
    assert processes_under(home) == []


def test_up_names_the_service_and_the_cause_when_a_port_is_taken(tmp_path: Path) -> None:
    import socket

    env = local_env(tmp_path / "busy")
    with socket.socket() as squatter:
        port = free_port()
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        env["JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
        try:
            done = jobstream(env, "up", check=False)
        finally:
            jobstream(env, "down", check=False)
    assert done.returncode == 1
    assert "kafka" in done.stderr
    assert f"port {port} is already taken" in done.stderr
    assert "JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS" in done.stderr
