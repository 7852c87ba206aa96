"""``jobstream worker``: the typer command, registered in infra/cli.py.

Heavy imports (Faust, asyncpg) happen inside the function so `jobstream --help` and
`jobstream up` stay fast and work before those are touched.
"""

from __future__ import annotations

from typing import Annotated

import typer


def worker(
    group: Annotated[
        str | None,
        typer.Option("--group", help="Consumer group (default: JOBSTREAM_CONSUMER_GROUP)."),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Prometheus port; 0 picks a free one (logged)."),
    ] = None,
) -> None:
    """Run one sink worker: postings.v1 -> PostgreSQL, dead letters, invalidations.

    Workers sharing a consumer group share the partitions; start several to scale out.
    Stop with Ctrl-C or SIGTERM. Example: [bold]jobstream worker --metrics-port 0[/bold]
    """
    from schemas.settings import settings_or_exit
    from streams.worker import run_worker

    settings = settings_or_exit(consumer_group=group, worker_metrics_port=metrics_port)
    run_worker(settings)
