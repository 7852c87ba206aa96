"""The platform's own processes under the stack: the gateway, N sink workers, M alerts
workers, the API.

They run as `python -m gateway` / `python -m streams` subprocesses with pid files beside
the services', so `down` stops exactly what `up --workers N` started. Each worker gets
its own metrics port (JOBSTREAM_WORKER_METRICS_PORT + index) since they share a host.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

from infra.stack import kafka, process
from infra.stack.errors import ServiceError
from infra.stack.paths import StackPaths
from schemas.settings import Settings

GATEWAY = "gateway"
API = "api"
DELIVERY = "delivery"  # the alert delivery worker (webhooks, email)
ALERTS = "alerts"  # alerts workers: alerts-1, alerts-2, ...


def worker_name(index: int) -> str:
    return f"worker-{index}"


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    """Our environment for a child, plus ``extra``; with a local cluster, every node's
    address (the settings may name only the first)."""
    env = dict(os.environ)
    cluster = kafka.cluster_wide(settings, StackPaths.create(settings.home))
    if cluster.kafka_brokers > 1:
        env["JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"] = cluster.kafka_bootstrap_servers
        env["JOBSTREAM_KAFKA_BROKERS"] = str(cluster.kafka_brokers)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def instance_name(service: str, index: int) -> str:
    """``gateway``/``api`` for the first instance (as one always was), ``api-2`` ..."""
    return service if index == 1 else f"{service}-{index}"


@dataclass(frozen=True)
class _Server:
    """One instance of a server: ``python -m module`` listening on host:port."""

    name: str
    module: str
    host: str
    port: int
    port_variable: str
    env: dict[str, str]


def start_gateways(settings: Settings, paths: StackPaths, count: int = 1) -> str:
    """Gateways 1..count, instance i on JOBSTREAM_GATEWAY_PORT + i - 1 and its metrics on
    JOBSTREAM_GATEWAY_METRICS_PORT + i - 1 (0 stays 0: a free port)."""
    servers = []
    for i in range(1, count + 1):
        port = settings.gateway_port + i - 1
        metrics = settings.gateway_metrics_port + i - 1 if settings.gateway_metrics_port else 0
        env = {"JOBSTREAM_GATEWAY_PORT": str(port), "JOBSTREAM_GATEWAY_METRICS_PORT": str(metrics)}
        name = instance_name(GATEWAY, i)
        servers.append(
            _Server(name, "gateway", settings.gateway_host, port, "JOBSTREAM_GATEWAY_PORT", env)
        )
    return _start_servers(settings, paths, servers)


def start_apis(settings: Settings, paths: StackPaths, count: int = 1) -> str:
    """API instances 1..count, instance i on JOBSTREAM_API_PORT + i - 1."""
    servers = []
    for i in range(1, count + 1):
        port = settings.api_port + i - 1
        env = {"JOBSTREAM_API_PORT": str(port)}
        name = instance_name(API, i)
        servers.append(_Server(name, "api", settings.api_host, port, "JOBSTREAM_API_PORT", env))
    return _start_servers(settings, paths, servers)


def _start_servers(settings: Settings, paths: StackPaths, servers: list[_Server]) -> str:
    """Spawn every instance that is not running, then wait until each listens: they start
    together (each spends seconds importing before it binds), not one after the other.
    A port taken by another process is refused before any is spawned."""
    said: dict[str, str] = {}
    todo = []
    for server in servers:
        address = f"{server.host}:{server.port}"
        if process.running(paths.pidfile(server.name)) is not None:
            said[server.name] = f"already running on {address}"
        elif process.port_open(server.host, server.port):
            owner = process.port_owner(server.port) or "another process"
            raise ServiceError(
                server.name,
                f"port {server.port} is already taken by {owner}",
                log=paths.log(server.name),
                hint=f"stop it, or set {server.port_variable}",
            )
        else:
            todo.append(server)
    spawned = [
        (
            server,
            process.spawn(
                [sys.executable, "-m", server.module],
                log=paths.log(server.name),
                pidfile=paths.pidfile(server.name),
                env=_env(settings, **server.env),
            ),
        )
        for server in todo
    ]
    failed: list[_Server] = []
    for server, proc in spawned:
        if process.wait_until(
            functools.partial(process.port_open, server.host, server.port),
            timeout=settings.startup_timeout_s,
            alive=proc.is_running,
        ):
            said[server.name] = f"started on {server.host}:{server.port}"
        else:
            process.stop(paths.pidfile(server.name), timeout=5)
            failed.append(server)
    if failed:
        log = paths.log(failed[0].name)
        raise ServiceError(
            failed[0].name,
            f"it did not start listening on {failed[0].host}:{failed[0].port}",
            log=log,
            hint="read the log's last lines:\n" + process.tail(log),
        )
    return "; ".join(said[server.name] for server in servers)


def start_workers(settings: Settings, paths: StackPaths, count: int) -> str:
    """Make sure workers 1..count run; leave any beyond count alone (scale down = stop)."""
    return _start_many(
        settings, paths, count, "worker", "streams", settings.worker_metrics_port, "WORKER"
    )


def start_alerts_workers(settings: Settings, paths: StackPaths, count: int) -> str:
    """Make sure alerts workers (``python -m streams.alerts``) 1..count run, each on
    JOBSTREAM_ALERTS_METRICS_PORT + index - 1."""
    return _start_many(
        settings, paths, count, ALERTS, "streams.alerts", settings.alerts_metrics_port, "ALERTS"
    )


def _start_many(
    settings: Settings,
    paths: StackPaths,
    count: int,
    prefix: str,
    module: str,
    port_base: int,
    port_var: str,
) -> str:
    started = []
    for index in range(1, count + 1):
        name = f"{prefix}-{index}"
        if process.running(paths.pidfile(name)) is not None:
            continue
        port = port_base + index - 1 if port_base else 0
        proc = process.spawn(
            [sys.executable, "-m", module],
            log=paths.log(name),
            pidfile=paths.pidfile(name),
            env=_env(settings, **{f"JOBSTREAM_{port_var}_METRICS_PORT": str(port)}),
        )

        # A worker serves /metrics as soon as it is configured: that is "started".
        def serving(metrics_port: int = port) -> bool:
            return metrics_port > 0 and process.port_open("127.0.0.1", metrics_port)

        ready = process.wait_until(
            serving, timeout=settings.startup_timeout_s if port else 2.0, alive=proc.is_running
        )
        if not proc.is_running() or (port and not ready):
            process.stop(paths.pidfile(name), timeout=5)
            raise ServiceError(
                name,
                "the worker did not start",
                log=paths.log(name),
                hint="read the log's last lines:\n" + process.tail(paths.log(name)),
            )
        started.append(name)
    running = count_workers(paths, prefix)
    return f"{running} running" + (f" (started {', '.join(started)})" if started else "")


def count_workers(paths: StackPaths, prefix: str = "worker") -> int:
    return sum(1 for f in paths.run.glob(f"{prefix}-*.pid") if process.running(f) is not None)


def stop_all(paths: StackPaths) -> list[str]:
    """SIGTERM the gateway (it drains) and every worker (they commit what is done): the
    workers, then the servers, then the gateways, the processes of each step together."""
    steps = [
        sorted(paths.run.glob(f"{ALERTS}-*.pid")) + sorted(paths.run.glob("worker-*.pid")),
        [paths.pidfile(DELIVERY), *sorted(paths.run.glob(f"{API}*.pid"))],
        sorted(paths.run.glob(f"{GATEWAY}*.pid")),
    ]
    return [p.stem for step in steps for p in process.stop_together(step, timeout=45)]


def start_delivery(settings: Settings, paths: StackPaths) -> str:
    """The alert delivery worker (``python -m streams.alerts.delivery``): one per stack,
    since its senders share the work through their ledgers, not through partitions;
    started once it serves /metrics on JOBSTREAM_ALERTS_DELIVERY_METRICS_PORT."""
    port = settings.alerts_delivery_metrics_port
    if port:
        variable = "JOBSTREAM_ALERTS_DELIVERY_METRICS_PORT"
        server = _Server(DELIVERY, "streams.alerts.delivery", "127.0.0.1", port, variable, {})
        return _start_servers(settings, paths, [server])
    if process.running(paths.pidfile(DELIVERY)) is not None:
        return "already running"
    process.spawn(
        [sys.executable, "-m", "streams.alerts.delivery"],
        log=paths.log(DELIVERY),
        pidfile=paths.pidfile(DELIVERY),
        env=_env(settings),
    )
    return "started"
