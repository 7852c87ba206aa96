"""``jobstream rebuild`` and ``jobstream maintenance run``: registered by infra/cli.py."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from schemas.settings import Settings
from streams.ops.console import err, fail
from streams.ops.console import settings as load_settings
from streams.ops.errors import OpsError

REBUILD_HELP = """Rebuild the read model from the beginning of postings.v1 and swap it in.

Loads every event into a new table (bulk: no vector index while loading), builds the
indexes, catches up with the live stream, then swaps the tables in one transaction.
Search keeps answering throughout; the sink's writes pause for the final second.

Examples:

  jobstream rebuild --yes

  jobstream rebuild --yes --json > rebuild-report.json
"""

MAINTENANCE_RUN_HELP = """Run the maintenance job now (what the nightly crontab runs).

Redrives dead letters of retryable error classes (JOBSTREAM_RETRYABLE_ERROR_CLASSES),
VACUUM ANALYZE of the read model, vector index upkeep, and a report.

Examples:

  jobstream maintenance run

  jobstream maintenance run --json
"""


def _settings() -> Settings:
    """Settings, with logs as JSON on stderr (warnings only): stdout is the report."""
    from schemas.logs import configure

    settings = load_settings()
    configure("WARNING" if settings.log_level in ("DEBUG", "INFO") else settings.log_level)
    return settings


def rebuild_command(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    catch_up_gap: Annotated[
        int, typer.Option(min=0, help="Swap once fewer records than this are behind.")
    ] = 500,
) -> None:
    from streams.rebuild.progress import RichProgress
    from streams.rebuild.run import rebuild

    settings = _settings()
    if not yes and not typer.confirm(
        f"Rebuild the read model from {settings.topic_postings} and swap it in?"
    ):
        raise typer.Exit(1)
    try:
        if as_json:
            report = asyncio.run(rebuild(settings, catch_up_gap=catch_up_gap))
        else:
            with RichProgress(err) as progress:
                report = asyncio.run(
                    rebuild(settings, progress=progress, catch_up_gap=catch_up_gap)
                )
    except OpsError as exc:
        raise fail(exc) from None
    doc = report.to_json()
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    err.print(
        f"[green]rebuilt[/green] {doc['rows']:,} rows ({doc['live_rows']:,} live) from "
        f"{doc['events_read']:,} events ({doc['records_read']:,} records) in "
        f"{doc['seconds_total']:.1f} s "
        f"({doc['postings_per_s']:,.0f}/s): loading {doc['seconds_loading']:.1f} s, "
        f"indexing {doc['seconds_indexing']:.1f} s, catching up "
        f"{doc['seconds_catching_up']:.1f} s, swap {doc['seconds_swapping']:.2f} s"
    )


def maintenance_run_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    from streams.maintenance.job import run_maintenance

    settings = _settings()
    try:
        report = asyncio.run(run_maintenance(settings))
    except OpsError as exc:
        raise fail(exc) from None
    doc = report.to_json()
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        for key, value in doc.items():
            err.print(f"{key:>24}: {value}")
    if not report.ok:
        raise typer.Exit(1)


def register_rebuild(app: typer.Typer) -> None:
    """Adds the rebuild and maintenance commands to ``app``."""
    app.command("rebuild", help=REBUILD_HELP)(rebuild_command)
    maintenance = typer.Typer(help="Scheduled maintenance, on demand.", no_args_is_help=True)
    maintenance.command("run", help=MAINTENANCE_RUN_HELP)(maintenance_run_command)
    app.add_typer(maintenance, name="maintenance")
