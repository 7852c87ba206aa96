"""The platform's own processes under the stack: the gateway and N sink workers.

They run as `python -m gateway` / `python -m streams` subprocesses with pid files beside
the services', so `down` stops exactly what `up --workers N` started. Each worker gets
its own metrics port (JOBSTREAM_WORKER_METRICS_PORT + index) since they share a host.
"""

from __future__ import annotations

import os
import sys

from infra.stack import process
from infra.stack.errors import ServiceError
from infra.stack.paths import StackPaths
from schemas.settings import Settings

GATEWAY = "gateway"


def worker_name(index: int) -> str:
    return f"worker-{index}"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_gateway(settings: Settings, paths: StackPaths) -> str:
    pidfile = paths.pidfile(GATEWAY)
    if process.running(pidfile) is not None:
        return f"already running on {settings.gateway_target}"
    if process.port_open(settings.gateway_host, settings.gateway_port):
        owner = process.port_owner(settings.gateway_port) or "another process"
        raise ServiceError(
            GATEWAY,
            f"port {settings.gateway_port} is already taken by {owner}",
            log=paths.log(GATEWAY),
            hint="stop it, or set JOBSTREAM_GATEWAY_PORT",
        )
    proc = process.spawn(
        [sys.executable, "-m", "gateway"], log=paths.log(GATEWAY), pidfile=pidfile, env=_env()
    )
    if not process.wait_until(
        lambda: process.port_open(settings.gateway_host, settings.gateway_port),
        timeout=settings.startup_timeout_s,
        alive=proc.is_running,
    ):
        process.stop(pidfile, timeout=5)
        raise ServiceError(
            GATEWAY,
            "the gateway did not start listening",
            log=paths.log(GATEWAY),
            hint="read the log's last lines:\n" + process.tail(paths.log(GATEWAY)),
        )
    return f"started on {settings.gateway_target}"


def start_workers(settings: Settings, paths: StackPaths, count: int) -> str:
    """Make sure workers 1..count run; leave any beyond count alone (scale down = stop)."""
    started = []
    for index in range(1, count + 1):
        name = worker_name(index)
        if process.running(paths.pidfile(name)) is not None:
            continue
        port = settings.worker_metrics_port + index - 1 if settings.worker_metrics_port else 0
        proc = process.spawn(
            [sys.executable, "-m", "streams"],
            log=paths.log(name),
            pidfile=paths.pidfile(name),
            env=_env(JOBSTREAM_WORKER_METRICS_PORT=str(port)),
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
    running = count_workers(paths)
    return f"{running} running" + (f" (started {', '.join(started)})" if started else "")


def count_workers(paths: StackPaths) -> int:
    return sum(1 for f in paths.run.glob("worker-*.pid") if process.running(f) is not None)


def stop_all(paths: StackPaths) -> list[str]:
    """SIGTERM the gateway (it drains) and every worker (they commit what is done)."""
    stopped = []
    for pidfile in sorted(paths.run.glob("worker-*.pid")):
        if process.stop(pidfile, timeout=45):
            stopped.append(pidfile.stem)
    if process.stop(paths.pidfile(GATEWAY), timeout=45):
        stopped.append(GATEWAY)
    return stopped
