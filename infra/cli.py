"""The `jobstream` command: one entry point for operators.

Sub-commands of later roles (produce, worker, ops) are imported lazily so that
`jobstream up` works before their dependencies are touched.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from schemas.settings import settings_or_exit

app = typer.Typer(
    name="jobstream",
    help="JobStream: event-sourced job-postings search on Kafka, PostgreSQL+pgvector and Redis.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console()
err = Console(stderr=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _report(service: str, message: str) -> None:
    console.print(f"[bold cyan]{service:>9}[/bold cyan]  {message}")


@app.command()
def up(
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            max=64,
            help="Also run the gateway, this many sink workers (one group) and the API.",
        ),
    ] = 0,
    alerts_workers: Annotated[
        int,
        typer.Option(
            "--alerts-workers",
            min=0,
            max=64,
            help="With --workers: this many alerts workers (matcher, publisher).",
        ),
    ] = 1,
    gateways: Annotated[
        int,
        typer.Option(
            "--gateways",
            min=1,
            max=16,
            help="With --workers: this many gateways, on JOBSTREAM_GATEWAY_PORT + i - 1.",
        ),
    ] = 1,
    api_instances: Annotated[
        int,
        typer.Option(
            "--api-instances",
            min=1,
            max=16,
            help="With --workers: this many API instances, on JOBSTREAM_API_PORT + i - 1.",
        ),
    ] = 1,
    kafka_brokers: Annotated[
        int | None,
        typer.Option(
            "--kafka-brokers",
            min=1,
            max=5,
            help="Run this many local Kafka nodes (KRaft, each broker and controller); 3 "
            "gives topics 3 replicas and min.insync.replicas 2. Default: "
            "JOBSTREAM_KAFKA_BROKERS (1).",
        ),
    ] = None,
) -> None:
    """Start Kafka, PostgreSQL+pgvector and Redis (idempotent), create topics, migrate.

    Examples: [bold]jobstream up[/bold] · [bold]jobstream up --workers 2[/bold] ·
    [bold]jobstream up --kafka-brokers 3 --workers 3 --api-instances 2 --gateways 2[/bold]
    """
    from infra.stack.errors import ServiceError
    from infra.stack.stack import up as stack_up

    settings = settings_or_exit()
    if kafka_brokers is not None:
        settings = settings.model_copy(update={"kafka_brokers": kafka_brokers})
    try:
        with console.status("starting the stack…"):
            stack_up(
                settings,
                _report,
                workers=workers,
                alerts_workers=alerts_workers,
                gateways=gateways,
                api_instances=api_instances,
            )
    except ServiceError as exc:
        err.print(f"[red]cannot start {exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        "[green]stack is up[/green] — `jobstream status` shows it, `jobstream down` stops it"
    )


@app.command()
def init() -> None:
    """Create the topics and apply the migrations on the servers the settings name, then exit.

    Starts nothing: for servers run elsewhere (a container platform's one-shot step, the
    `init` service of infra/docker-compose.yml). `up` does the same after starting the
    local ones. Example: [bold]jobstream init[/bold]
    """
    import asyncio

    from infra.stack.errors import ServiceError
    from infra.stack.postgres import apply_migrations
    from infra.stack.topics import ensure_topics

    settings = settings_or_exit()
    try:
        created = asyncio.run(ensure_topics(settings, timeout=settings.startup_timeout_s))
        _report("topics", f"created {', '.join(created)}" if created else "all present")
        applied = asyncio.run(apply_migrations(settings))
        _report("postgres", f"migrations applied: {', '.join(applied) or 'none pending'}")
    except ServiceError as exc:
        err.print(f"[red]cannot initialise {exc}[/red]")
        raise typer.Exit(1) from None


@app.command()
def down(
    purge: Annotated[bool, typer.Option("--purge", help="Also delete all data and logs.")] = False,
) -> None:
    """Stop what `up` started. Data survives unless --purge.

    Example: [bold]jobstream down --purge[/bold]
    """
    from infra.stack.stack import down as stack_down

    stack_down(settings_or_exit(), _report, purge=purge)


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Health of each service: Kafka version and topics, PostgreSQL and pgvector, Redis.

    Exits 1 when any service is unhealthy. Example: [bold]jobstream status --json[/bold]
    """
    from infra.stack.stack import status as stack_status

    services = stack_status(settings_or_exit())
    if as_json:
        print(json.dumps([asdict(s) for s in services], indent=2, default=str))
    else:
        table = Table("service", "health", "address", "pid", "detail")
        for s in services:
            health = "[green]healthy[/green]" if s.healthy else "[red]down[/red]"
            table.add_row(s.name, health, s.address, str(s.pid or "-"), s.detail)
        console.print(table)
    if not all(s.healthy for s in services):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console script shim
    sys.exit(app())


from gateway.cli import gateway_command, produce  # noqa: E402

app.command("gateway")(gateway_command)
app.command("produce")(produce)

from streams.cli import worker  # noqa: E402

app.command("worker")(worker)

from api.cli import api_command  # noqa: E402

app.command("api")(api_command)

from streams.ops.cli import register_ops  # noqa: E402
from streams.rebuild.cli import register_rebuild  # noqa: E402

register_ops(app)
register_rebuild(app)

from infra.replay_cli import replay  # noqa: E402

app.command("replay")(replay)

from infra.keys_cli import keys_app  # noqa: E402

app.add_typer(keys_app)

from infra.postings_cli import postings_app  # noqa: E402

app.add_typer(postings_app)

from infra.alerts_cli import alerts_app  # noqa: E402

app.add_typer(alerts_app)
