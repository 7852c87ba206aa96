"""structlog setup for the gateway and API processes: JSON lines when not on a terminal.

Only entry points (``jobstream gateway | produce | api``) call :func:`configure`; library
code just calls ``structlog.get_logger`` so tests keep structlog's defaults. The workers
route Faust's stdlib logging through structlog instead (streams/logs.py).
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "INFO") -> None:
    """Route structlog (and stdlib logging, e.g. aiokafka) to stderr at ``level``."""
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
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
