"""``jobstream rebuild | maintenance``: registered on the operator CLI by infra/cli.py."""

from __future__ import annotations

import typer


def register_rebuild(app: typer.Typer) -> None:
    """Adds the rebuild and maintenance commands to ``app``."""
