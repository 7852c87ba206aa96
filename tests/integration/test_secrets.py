"""Nothing leaked: status output without passwords, /health with states only, /metrics of
the gateway and the workers on the loopback interface unless told otherwise."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from gateway.server import Gateway
from schemas.settings import Settings
from tests.support.api import app_settings, running_api, wait_until
from tests.support.ops import cli
from tests.support.provision import free_port
from tests.support.sink import WorkerProcess, make_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DB_PASSWORD = "hunter2-db-secret"
REDIS_PASSWORD = "hunter2-redis-secret"


def listening_addresses(port: int) -> set[str]:
    """The local addresses sockets LISTEN on for ``port`` (IPv4 dotted, IPv6 as hex)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:]
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:
                continue
            if len(address) == 8:
                found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
            else:
                found.add(address)
    return found


async def test_status_never_prints_the_database_or_redis_password(stack: Settings) -> None:
    topics = await make_topics(stack)
    env = {
        "DATABASE_URL": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{stack.postgres_port}"
        "/jobstream",
        "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{stack.redis_port}/0",
    }
    _code, out, err = await cli(topics, "status", "--json", **env)
    services = {s["name"]: s for s in json.loads(out)}
    assert services["postgres"]["address"] == (
        f"postgresql://postgres:***@127.0.0.1:{stack.postgres_port}/jobstream"
    )
    assert services["redis"]["address"] == f"redis://:***@127.0.0.1:{stack.redis_port}/0"
    _code, table, table_err = await cli(topics, "status", **env)
    for text in (out, err, table, table_err):
        assert DB_PASSWORD not in text
        assert REDIS_PASSWORD not in text


async def test_health_answers_states_not_driver_errors(stack: Settings) -> None:
    """PostgreSQL and Redis unreachable, the invalidation topic missing: /health says which
    is down, and no error text (hosts, ports, driver messages) leaves the process."""
    topics = await make_topics(stack)
    dead_pg, dead_redis = free_port(), free_port()
    settings = app_settings(
        stack,
        topics,
        database_url=f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{dead_pg}/jobstream",
        redis_url=f"redis://127.0.0.1:{dead_redis}/0",
        topic_invalidations=f"missing-{uuid.uuid4().hex}",
    )
    async with running_api(settings) as api:
        response = await api.client.get("/health")
        assert response.status_code == 503
        body: dict[str, Any] = response.json()
    checks = body["checks"]
    assert checks["postgres"] == {"status": "down"}
    assert checks["redis"] == {"status": "down"}
    assert checks["kafka_consumer"]["status"] == "degraded"
    text = response.text
    for leak in ("error", str(dead_pg), str(dead_redis), DB_PASSWORD, "Error", "refused"):
        assert leak not in text, (leak, body)


async def test_gateway_and_worker_metrics_bind_the_loopback_interface(
    stack: Settings, tmp_path: Path
) -> None:
    port = free_port()
    gateway = Gateway(
        stack.model_copy(update={"gateway_port": free_port(), "gateway_metrics_port": port}),
        metrics_server=True,
    )
    await gateway.start()
    try:
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        await gateway.stop(1.0)

    topics = await make_topics(stack)
    worker = WorkerProcess(topics, tmp_path).start()
    try:

        async def serving() -> bool:
            return bool(listening_addresses(worker.metrics_port))

        await wait_until(serving, timeout=60, what="the worker's /metrics", interval=0.2)
        assert listening_addresses(worker.metrics_port) == {"127.0.0.1"}
    finally:
        worker.terminate()
