"""``jobstream alerts``: the operator's view of job alerts, and the rebuild of saved searches.

- ``stats [--json]``: saved searches (live, deleted, by mode, with webhook / email),
  alerts in the last hour and 24 h and per hour, the delivery lag (the oldest ledger
  row not yet on alerts.v1, and the delivery ledgers' backlog when they exist), and the
  materialiser's lag behind saved-searches.v1.
- ``rebuild``: empty ``saved_searches`` and refill it from saved-searches.v1, the source
  of truth; idempotent, the alerts ledger untouched.

Exit codes: 0 done, 1 PostgreSQL refused (migrations not applied?), 3 Kafka or PostgreSQL
unreachable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import asyncpg
import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schemas.settings import settings_or_exit

alerts_app = typer.Typer(
    name="alerts",
    help="Job alerts: statistics, and the rebuild of saved searches from their topic.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
out = Console()
err = Console(stderr=True)

EXIT_UNREACHABLE = 3
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
_T = TypeVar("_T")


def _run(coro: Coroutine[Any, Any, _T], what: str) -> _T:
    """Run ``coro``; an unreachable Kafka or PostgreSQL is exit 3 with one clear line."""
    from schemas.logs import configure

    configure("WARNING")  # logs on stderr; stdout is the answer
    try:
        return asyncio.run(coro)
    except (OSError, TimeoutError, KafkaError) as exc:
        err.print(
            f"[red]cannot {what}: Kafka or PostgreSQL unreachable ({type(exc).__name__}: "
            f"{exc}); is the stack up (`jobstream up`)?[/red]",
            highlight=False,
        )
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except asyncpg.PostgresError as exc:
        err.print(
            f"[red]cannot {what}: PostgreSQL answered {type(exc).__name__}: {exc} (are the "
            "migrations applied? `jobstream up` applies them)[/red]",
            highlight=False,
        )
        raise typer.Exit(1) from None


@alerts_app.command("stats")
def stats(as_json: JsonFlag = False) -> None:
    """Saved searches, alerts per hour, delivery lag, webhook failures, materialiser lag.

    Example: [bold]jobstream alerts stats --json[/bold]
    """
    from streams.alerts.stats import collect

    figures = _run(collect(settings_or_exit()), "read the alerts statistics")
    if as_json:
        print(json.dumps(figures, indent=2, default=str))
        return
    saved, alerts = figures["saved_searches"], figures["alerts"]
    delivery, lag = figures["delivery"], figures["materialiser"]
    table = Table("figure", "value", title="job alerts")
    rows: list[tuple[str, object]] = [
        ("saved searches (live)", saved["live"]),
        ("saved searches (deleted)", saved["deleted"]),
        (
            "by mode (hybrid / semantic / keyword)",
            f"{saved['hybrid']} / {saved['semantic']} / {saved['keyword']}",
        ),
        ("filters only (no query)", saved["filters_only"]),
        ("with webhook / with email", f"{saved['with_webhook']} / {saved['with_email']}"),
        ("alerts (all time)", alerts["total"]),
        ("alerts last hour / last 24 h", f"{alerts['last_hour']} / {alerts['last_24h']}"),
        ("backfill alerts / closed", f"{alerts['backfill']} / {alerts['closed']}"),
        ("unpublished alerts", delivery["unpublished"]),
        ("delivery lag (oldest unpublished)", _age(delivery["oldest_unpublished_s"])),
    ]
    for key, value in delivery.items():  # the delivery ledgers' figures, when they exist
        if key.startswith(("webhook", "email")):
            shown = _age(value) if key.endswith("_s") else value
            rows.append((key.removesuffix("_s").replace("_", " "), shown))
    rows.append((f"materialiser lag ({lag['topic']})", f"{lag['lag']} records"))
    for name, value in rows:
        table.add_row(name, str(value))
    out.print(table)
    if alerts["per_hour"]:
        hours = Table("hour (UTC)", "alerts", title="alerts per hour, last 24 h")
        for entry in alerts["per_hour"]:
            hours.add_row(entry["hour"][:16].replace("T", " "), str(entry["alerts"]))
        out.print(hours)


def _age(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds:.1f} s"


@alerts_app.command("rebuild")
def rebuild(as_json: JsonFlag = False) -> None:
    """Empty saved_searches and refill it from saved-searches.v1 (idempotent; the alerts
    ledger is untouched, and nothing is backfilled again).

    Example: [bold]jobstream alerts rebuild[/bold]
    """
    from streams.alerts.rebuild import rebuild as run_rebuild

    settings = settings_or_exit()
    with Progress(
        TextColumn("[bold cyan]saved searches[/bold cyan]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=as_json or not err.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("rebuild", total=None)

        def report(read: int, total: int) -> None:
            progress.update(task, completed=read, total=total)

        done = _run(run_rebuild(settings, report), "rebuild the saved searches")
    figures = {
        "topic": settings.topic_saved_searches,
        "upserted": done.upserted,
        "deleted": done.deleted,
        "stale": done.stale,
        "bad_records": done.bad,
    }
    if as_json:
        print(json.dumps(figures))
    else:
        out.print(
            f"[green]saved_searches rebuilt[/green] from {figures['topic']}: "
            f"{done.upserted} records applied, {done.deleted} deletions, {done.stale} superseded, "
            f"{done.bad} bad records skipped"
        )
