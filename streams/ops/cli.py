"""``jobstream offsets | dlq | replay``: registered on the operator CLI by infra/cli.py."""

from __future__ import annotations

import typer


def register_ops(app: typer.Typer) -> None:
    """Adds the log-operation commands to ``app``."""
