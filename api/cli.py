"""``jobstream api`` (registered in infra/cli.py) and ``python -m api``: serve with uvicorn.

Heavy imports (Litestar, asyncpg, the model) happen inside the command so
``jobstream --help`` stays fast.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from litestar import Litestar


def api_command(
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (default JOBSTREAM_API_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default JOBSTREAM_API_PORT).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, max=64, help="Server processes (default JOBSTREAM_API_WORKERS)."
        ),
    ] = None,
) -> None:
    """Serve the GraphQL API and the web UI (/graphql, /, /health, /metrics) in the foreground.

    One process is CPU-bound at a few hundred GraphQL requests/s; ``--workers`` runs
    several on the same port (each with its own L1 cache and invalidation listener, all
    sharing Redis), so use one per core.

    Examples: [bold]jobstream api --port 8000[/bold] · [bold]jobstream api --workers 2[/bold]
    """
    import uvicorn

    from api.app import create_app
    from schemas import tracing
    from schemas.logs import configure
    from schemas.settings import settings_or_exit

    settings = settings_or_exit(api_host=host, api_port=port, api_workers=workers)
    configure(settings.log_level)
    server: dict[str, Any] = {
        "host": settings.api_host,
        "port": settings.api_port,
        "log_level": settings.log_level.lower(),
        "lifespan": "on",
        # The client address is the app's to decide (JOBSTREAM_TRUSTED_PROXIES), not
        # uvicorn's default trust of X-Forwarded-For from 127.0.0.1.
        "proxy_headers": False,
    }
    if settings.api_workers == 1:
        tracing.configure(tracing.API)  # with several, each worker process does
        uvicorn.run(served(create_app(settings)), **server)
        return
    # Worker processes import the app themselves: pass the overrides through the
    # environment, which load_settings() reads in each of them.
    os.environ["JOBSTREAM_API_HOST"] = settings.api_host
    os.environ["JOBSTREAM_API_PORT"] = str(settings.api_port)
    # The embedder's OpenMP threads: each worker takes its share of the cores, else every
    # worker's threads contend for all of them (e5, 2 workers on 2 cores: a Zipf mix at
    # 4 req/s instead of 50 on a busy machine, bench_query_path). An explicit value wins.
    cores = os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // settings.api_workers)))
    uvicorn.run(
        "api.cli:app_from_environment", factory=True, workers=settings.api_workers, **server
    )


def app_from_environment() -> Litestar:
    """The app for one of several server processes (uvicorn's ``factory``)."""
    from api.app import create_app
    from schemas import tracing
    from schemas.logs import configure
    from schemas.settings import load_settings

    settings = load_settings()
    configure(settings.log_level)
    tracing.configure(tracing.API)
    return served(create_app(settings))


def served(app: Litestar) -> Litestar:
    """The app as a long-running server: once started, its long-lived objects (modules,
    schema, model weights, pools) are moved out of the cyclic GC's reach (``gc.freeze``).

    Otherwise every full collection walks them all: measured with ``bench_api.py`` at
    c=32 on two processes, cached p99 fell from 97 to 33 ms and req/s rose 10 %."""

    def freeze_long_lived() -> None:
        gc.collect()
        gc.freeze()

    app.on_startup.append(freeze_long_lived)
    return app


def main() -> None:
    typer.run(api_command)
