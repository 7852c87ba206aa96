"""Provide a real stack for tests: external URLs, testcontainers, or local processes.

Order of preference, per the test harness contract:
1. external services when JOBSTREAM_TEST_EXTERNAL=1 and their URLs are set
   (JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, REDIS_URL);
2. testcontainers when a Docker engine answers;
3. otherwise the project's own local processes (`jobstream up`) in a temporary
   JOBSTREAM_HOME on free ports, so a developer's running stack is never touched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.settings import Settings, load_settings

# The stack's bootstrap publish key (JOBSTREAM_INGEST_TOKEN) for every gateway, API and
# `jobstream produce` of the tests; writes without a key are refused (schemas/auth).
PUBLISH_TOKEN = "test-publish-token-0123456789"
PUBLISH_HEADERS = {"authorization": f"Bearer {PUBLISH_TOKEN}"}
PUBLISH_METADATA = (("authorization", f"Bearer {PUBLISH_TOKEN}"),)


# No rate limits on a test or bench stack: every test shares one client address and one
# key, benches measure capacity; tests of the limits turn them on (test_rate_limits.py).
RATE_LIMITS_OFF = {
    "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS": "off",
    "JOBSTREAM_API_RATE_LIMIT_PER_KEY": "off",
    "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS": "0",
    "JOBSTREAM_API_MAX_INFLIGHT_PER_KEY": "0",
    "JOBSTREAM_GATEWAY_CALL_RATE_PER_ADDRESS": "off",
    "JOBSTREAM_GATEWAY_RECORD_RATE_PER_KEY": "off",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports_in_a_row(count: int) -> int:
    """The first of ``count`` consecutive free ports (a local Kafka cluster's nodes use
    the ports after the first one's)."""
    import random

    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports found")


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def local_env(home: Path, *, kafka_brokers: int = 1, instances: int = 1) -> dict[str, str]:
    """Settings for a private local stack on free ports (a cluster's nodes take the ports
    after the first one's, two each; ``instances`` gateways and API instances one each)."""
    kafka = free_ports_in_a_row(2 * kafka_brokers)
    return {
        "JOBSTREAM_HOME": str(home),
        "JOBSTREAM_KAFKA_BROKERS": str(kafka_brokers),
        "JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "JOBSTREAM_KAFKA_CONTROLLER_PORT": str(kafka + 1),
        "JOBSTREAM_KAFKA_METRICS_PORT": str(free_ports_in_a_row(kafka_brokers)),
        "JOBSTREAM_POSTGRES_PORT": str(free_port()),
        "JOBSTREAM_REDIS_PORT": str(free_port()),
        "JOBSTREAM_KAFKA_HEAP": "512m",
        "JOBSTREAM_KAFKA_RUNTIME": "jvm",
        "JOBSTREAM_GATEWAY_PORT": str(free_ports_in_a_row(instances)),
        "JOBSTREAM_GATEWAY_METRICS_PORT": str(free_ports_in_a_row(instances)),
        "JOBSTREAM_WORKER_METRICS_PORT": "0",
        "JOBSTREAM_ALERTS_METRICS_PORT": "0",
        "JOBSTREAM_ALERTS_DELIVERY_METRICS_PORT": str(free_port()),
        "JOBSTREAM_API_PORT": str(free_ports_in_a_row(instances)),
        "JOBSTREAM_INGEST_TOKEN": PUBLISH_TOKEN,
        **RATE_LIMITS_OFF,
    }


@contextmanager
def patched_env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextmanager
def local_stack(home: Path, *, kafka_brokers: int = 1) -> Iterator[Settings]:
    from infra.stack.stack import down, up

    env = local_env(home, kafka_brokers=kafka_brokers)
    with patched_env(env):
        settings = load_settings()
        try:
            up(settings, lambda *_: None)
            yield settings
        finally:
            down(settings, lambda *_: None)


@contextmanager
def container_stack(home: Path) -> Iterator[Settings]:  # pragma: no cover - needs Docker
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    from infra.stack.postgres import apply_migrations
    from infra.stack.topics import ensure_topics

    with (
        KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as kafka,
        PostgresContainer("pgvector/pgvector:pg17", dbname="jobstream") as pg,
        RedisContainer("redis:7") as rds,
    ):
        env = {
            "JOBSTREAM_HOME": str(home),
            "JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka.get_bootstrap_server(),
            "DATABASE_URL": pg.get_connection_url(driver=None),
            "REDIS_URL": f"redis://{rds.get_container_host_ip()}:{rds.get_exposed_port(6379)}/0",
        }
        with patched_env(env):
            settings = load_settings()
            asyncio.run(ensure_topics(settings))
            asyncio.run(apply_migrations(settings))
            yield settings


@contextmanager
def external_stack() -> Iterator[Settings]:
    from infra.stack.postgres import apply_migrations
    from infra.stack.topics import ensure_topics

    settings = load_settings()
    asyncio.run(ensure_topics(settings))
    asyncio.run(apply_migrations(settings))
    yield settings


@contextmanager
def provide_stack(home: Path) -> Iterator[Settings]:
    env = {"JOBSTREAM_INGEST_TOKEN": PUBLISH_TOKEN, **RATE_LIMITS_OFF}
    with patched_env(env), _provide_stack(home) as settings:
        yield settings


@contextmanager
def _provide_stack(home: Path) -> Iterator[Settings]:
    if os.environ.get("JOBSTREAM_TEST_EXTERNAL") == "1":
        with external_stack() as settings:
            yield settings
    elif os.environ.get("JOBSTREAM_TEST_DOCKER", "auto") != "0" and docker_available():
        with container_stack(home) as settings:
            yield settings
    else:
        with local_stack(home) as settings:
            yield settings
