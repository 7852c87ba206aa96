"""``jobstream api`` (registered in infra/cli.py) and ``python -m api``: serve with uvicorn.

Heavy imports (Litestar, asyncpg, the model) happen inside the command so
``jobstream --help`` stays fast.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer


def configure_logging(level: str) -> None:
    """JSON lines on stderr (console rendering on a terminal), stdlib logs included."""
    import structlog

    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    logging.getLogger("aiokafka").setLevel(max(numeric, logging.WARNING))
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def api_command(
    host: Annotated[
        str | None, typer.Option("--host", help="Bind address (default JOBSTREAM_API_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (default JOBSTREAM_API_PORT).")
    ] = None,
) -> None:
    """Serve the GraphQL API (/graphql, /health, /metrics) in the foreground.

    Example: [bold]jobstream api --port 8000[/bold]
    """
    import uvicorn

    from api.app import create_app
    from schemas.settings import SettingsError, load_settings

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["api_host"] = host
    if port is not None:
        overrides["api_port"] = port
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        lifespan="on",
    )


def main() -> None:
    typer.run(api_command)
