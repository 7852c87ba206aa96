"""Start, find and stop the stack's processes.

A pid file records the pid *and* the process start time, so that `down` never signals
an unrelated process that happens to reuse a stale pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Recorded:
    pid: int
    create_time: float
    argv0: str


def spawn(
    argv: Sequence[str],
    *,
    log: Path,
    pidfile: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> psutil.Process:
    """Start argv detached from our session, stdout/stderr appended to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=cwd,
        )
    handle = psutil.Process(proc.pid)
    record(pidfile, handle)
    return handle


def record(pidfile: Path, proc: psutil.Process) -> None:
    data = {"pid": proc.pid, "create_time": proc.create_time(), "argv0": proc.name()}
    tmp = pidfile.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(pidfile)


def running(pidfile: Path) -> psutil.Process | None:
    """The live process recorded in pidfile, or None (a stale file is removed)."""
    try:
        data = Recorded(**json.loads(pidfile.read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    try:
        proc = psutil.Process(data.pid)
        if (
            abs(proc.create_time() - data.create_time) < 0.01
            and proc.status() != psutil.STATUS_ZOMBIE
        ):
            return proc
    except psutil.Error:
        pass
    pidfile.unlink(missing_ok=True)
    return None


def stop(pidfile: Path, *, timeout: float = 30.0) -> bool:
    """SIGTERM the recorded process (and its children), SIGKILL after timeout."""
    return bool(stop_together([pidfile], timeout=timeout))


def stop_together(pidfiles: Sequence[Path], *, timeout: float = 30.0) -> list[Path]:
    """SIGTERM every recorded process (and its children) at once, wait for them all, and
    SIGKILL what is left after timeout; the pid files of those that were running.

    At once, not one after the other: peers that shut down cleanly only while the others
    are still there (a KRaft node's controlled shutdown needs a controller quorum; the
    last of three stopped in turn waited out the timeout) and one slow process no longer
    adds its wait to every later one's."""
    family: list[psutil.Process] = []
    stopped: list[Path] = []
    for pidfile in pidfiles:
        proc = running(pidfile)
        if proc is None:
            pidfile.unlink(missing_ok=True)
            continue
        stopped.append(pidfile)
        try:
            family += [proc, *proc.children(recursive=True)]
        except psutil.Error:
            family.append(proc)
    for p in family:
        _signal(p, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for p in alive:
        _signal(p, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=5)
    for pidfile in stopped:
        pidfile.unlink(missing_ok=True)
    return stopped


def _signal(proc: psutil.Process, sig: int) -> None:
    with contextlib.suppress(psutil.Error):
        proc.send_signal(sig)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str | None:
    """Name and pid of whatever listens on port, when we may know it."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid:
                    try:
                        return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
                    except psutil.Error:
                        return f"pid {conn.pid}"
                return "another process"
    except psutil.Error:
        return None
    return None


def wait_until(
    check: Callable[[], bool], *, timeout: float, alive: Callable[[], bool], interval: float = 0.25
) -> bool:
    """Poll check() until true; give up early when the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(interval)
    return check()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
