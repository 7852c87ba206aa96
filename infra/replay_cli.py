"""``jobstream replay``: one command, three sources, dispatched here in the operator CLI.

infra may import every role; streams and gateway may not import each other. So the
command lives here: ``--from-file`` is producer replay through the gateway's own client
(``jobstream produce --file``), ``--from-dlq`` and ``--from-datetime`` are the log
operations of :mod:`streams.ops`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer

from streams.ops.console import fail
from streams.ops.errors import UsageError


def replay(
    from_dlq: Annotated[
        bool, typer.Option("--from-dlq", help="Redrive dead letters to postings.v1.")
    ] = False,
    from_file: Annotated[
        Path | None,
        typer.Option("--from-file", help="Re-send a producer's NDJSON export via the gateway."),
    ] = None,
    from_datetime: Annotated[
        str | None,
        typer.Option(
            "--from-datetime", help="Re-produce postings.v1 records from this ISO 8601 time."
        ),
    ] = None,
    to_datetime: Annotated[
        str | None,
        typer.Option("--to-datetime", help="With --from-datetime: up to (excluding) this time."),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="--from-dlq: at most N letters.")
    ] = None,
    error_class: Annotated[
        list[str] | None,
        typer.Option("--error-class", help="--from-dlq: only this error class (repeatable)."),
    ] = None,
    execute: Annotated[
        bool,
        typer.Option(
            "--execute",
            help="--from-dlq / --from-datetime: really re-produce (default: dry run); "
            "--from-file always sends (the version rules make a re-sent file a no-op).",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", min=0, help="--from-dlq: seconds to wait for the sink to process them."
        ),
    ] = 60.0,
    max_redrives: Annotated[
        int,
        typer.Option(
            "--max-redrives", min=1, help="--from-dlq: skip letters that failed this often."
        ),
    ] = 3,
    producer_id: Annotated[
        str | None,
        typer.Option("--producer-id", help="--from-file: producer identity (default: new)."),
    ] = None,
    gateway: Annotated[
        str | None, typer.Option("--gateway", help="--from-file: gateway host:port.")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="--from-file: seconds to retry the gateway.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Replay postings into the main flow: dead letters, a producer's file, or a time range.

    Replays are safe to repeat: per posting the highest version wins and a replay of the
    same version changes nothing. --from-dlq records what it redrove, so a second run
    skips those letters.

    Examples:
    [bold]jobstream replay --from-dlq[/bold] (dry run: what would be redriven) ·
    [bold]jobstream replay --from-dlq --error-class db_check_violation --execute[/bold] ·
    [bold]jobstream replay --from-file export.ndjson[/bold] ·
    [bold]jobstream replay --from-datetime 2026-11-27T02:00:00Z --to-datetime 2026-11-27T03:00:00Z --execute[/bold]
    """  # noqa: E501
    sources = [
        name
        for name, given in (
            ("--from-dlq", from_dlq),
            ("--from-file", from_file is not None),
            ("--from-datetime", from_datetime is not None),
        )
        if given
    ]
    if len(sources) != 1:
        _usage(
            "give exactly one of --from-dlq, --from-file, --from-datetime "
            f"(got {', '.join(sources) or 'none'})"
        )
    if to_datetime is not None and from_datetime is None:
        _usage("--to-datetime needs --from-datetime")
    if not from_dlq and (limit is not None or error_class):
        _usage("--limit and --error-class apply to --from-dlq only")
    if from_file is None and (producer_id or gateway):
        _usage("--producer-id and --gateway apply to --from-file only")
    if from_dlq:
        from streams.ops.cli import replay_dlq

        replay_dlq(
            limit=limit,
            error_class=error_class,
            execute=execute,
            wait_s=wait,
            max_redrives=max_redrives,
            as_json=as_json,
        )
    elif from_datetime is not None:
        from streams.ops.cli import replay_datetime

        replay_datetime(since=from_datetime, until=to_datetime, execute=execute, as_json=as_json)
    else:
        assert from_file is not None
        from gateway.cli import produce

        # A fresh producer id: a replay never takes over (ABORTED) a live producer's stream.
        produce(
            file=from_file,
            producer_id=producer_id or f"replay-{uuid.uuid4().hex[:16]}",
            gateway=gateway,
            timeout=timeout,
            as_json=as_json,
        )


def _usage(message: str) -> None:
    raise fail(UsageError(message))
