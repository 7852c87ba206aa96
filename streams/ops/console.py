"""What every ops command shares: running a coroutine with clear errors and exit codes,
progress bars on stderr, JSON on stdout."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from schemas.settings import Settings, settings_or_exit
from streams.ops.errors import OpsError

T = TypeVar("T")
out = Console()
err = Console(stderr=True)


def settings() -> Settings:
    return settings_or_exit()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run an ops coroutine; an OpsError becomes its message on stderr and its exit code."""
    # aiokafka logs every retry at ERROR/WARNING; our errors say what went wrong.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coro)
    except OpsError as exc:
        raise fail(exc) from None


def fail(exc: OpsError) -> typer.Exit:
    """Print the error's message on stderr; the caller raises the returned exit."""
    err.print(f"[red]error:[/red] {exc.message}", highlight=False)
    return typer.Exit(exc.exit_code)


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


@contextmanager
def progress_bar(label: str, *, quiet: bool) -> Iterator[Progress]:
    """A rich progress bar on stderr; silent with --json or when stderr is not a terminal."""
    with Progress(
        TextColumn(f"[bold cyan]{label}[/bold cyan] {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
        transient=True,
    ) as progress:
        yield progress
