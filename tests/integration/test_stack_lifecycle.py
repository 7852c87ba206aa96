"""`jobstream up/status/down` as a user runs them, on a private stack of their own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.support.cli import jobstream, pids, processes_under
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
