"""Where the stack keeps its state: one git-ignored folder (JOBSTREAM_HOME)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jobstream"
"""Per user, not per stack: what is costly to fetch again and never state (the resolved
Kafka classpath, the container base image and layers)."""


@dataclass(frozen=True)
class StackPaths:
    home: Path

    @classmethod
    def create(cls, home: Path) -> StackPaths:
        paths = cls(home.expanduser().resolve())
        for folder in (paths.logs, paths.run, paths.data):
            folder.mkdir(parents=True, exist_ok=True)
        return paths

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def data(self) -> Path:
        return self.home / "data"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def pidfile(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def datadir(self, service: str) -> Path:
        return self.data / service
