"""Errors a user can act on: they name the service, its log and the likely cause."""

from __future__ import annotations

from pathlib import Path


class ServiceError(RuntimeError):
    def __init__(
        self, service: str, problem: str, *, log: Path | None = None, hint: str = ""
    ) -> None:
        self.service = service
        self.problem = problem
        self.log = log
        self.hint = hint
        parts = [f"{service}: {problem}"]
        if log is not None:
            parts.append(f"log: {log}")
        if hint:
            parts.append(f"next: {hint}")
        super().__init__("\n  ".join(parts))
