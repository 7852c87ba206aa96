"""What every bench script shares: latency percentiles, the machine and commit a result was
measured on, writing the result file, and the service subprocesses a bench starts."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from schemas.db.postings import PostingRow, posting_row
from schemas.domain import validate_event

ROOT = Path(__file__).resolve().parents[2]  # the repository


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100, nearest rank) of durations in seconds, in ms."""
    ordered = sorted(seconds)
    if not ordered:
        return float("nan")
    rank = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return round(ordered[rank] * 1e3, 2)


def percentiles_ms(seconds: Sequence[float], qs: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """``{"p50": ..., "p95": ..., "p99": ...}`` of durations in seconds, in ms."""
    return {f"p{q}": percentile_ms(seconds, q) for q in qs}


def latency_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """Count, p50/p95/p99, max and mean of durations in seconds, in ms."""
    return {
        "requests": len(seconds),
        "p50_ms": percentile_ms(seconds, 50),
        "p95_ms": percentile_ms(seconds, 95),
        "p99_ms": percentile_ms(seconds, 99),
        "max_ms": round(max(seconds) * 1e3, 2) if seconds else None,
        "mean_ms": round(sum(seconds) / len(seconds) * 1e3, 2) if seconds else None,
    }


def git_commit() -> str:
    """HEAD's hash, with ``+dirty`` when tracked files differ from it."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine(**extra: Any) -> dict[str, Any]:
    """The footer every result carries, so numbers from different machines are not mixed."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **extra,
    }


def write_result(path: Path, result: dict[str, Any], say: Any = print) -> None:
    """The result as indented JSON at ``path`` (folders created), announced with ``say``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    say(f"wrote {path}")


class Child:
    """A service subprocess we started; stopped by its own pid only."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=self._log)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def grep(self, needle: str) -> list[str]:
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if needle in line
        ]


COPY_COLUMNS: tuple[str, ...] = (*PostingRow._fields, "updated_at")


def copy_rows(events: Sequence[Any], dim: int) -> list[tuple[object, ...]]:
    """The rows the sink writes for these PostingEvents, ``updated_at`` included, for a
    COPY into ``COPY_COLUMNS`` (a baseline, or a table loaded without the sink)."""
    now = dt.datetime.now(dt.UTC)
    return [(*posting_row(validate_event(event, dim=dim)), now) for event in events]
