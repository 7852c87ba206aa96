"""Running `jobstream` as a user does, on a private stack, and looking at what it started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest


def jobstream(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "infra", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"jobstream {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def pids(home: Path) -> dict[str, int]:
    found = {}
    for pidfile in (home / "run").glob("*.pid"):
        found[pidfile.stem] = json.loads(pidfile.read_text())["pid"]
    return found


def processes_under(home: Path) -> list[psutil.Process]:
    """Every process whose command line mentions this stack's folder."""
    mine = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(home) in part for part in proc.info["cmdline"] or []):
                mine.append(proc)
        except psutil.Error:
            continue
    return mine


def kafka_row(env: dict[str, str]) -> dict[str, Any]:
    status = json.loads(jobstream(env, "status", "--json", check=False).stdout)
    row: dict[str, Any] = next(s for s in status if s["name"] == "kafka")
    return row


def until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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
