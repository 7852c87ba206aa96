"""One logging setup for every process: gateway, API, workers and the operator commands.

Only entry points call :func:`configure`; library code just calls ``structlog.get_logger``
so tests keep structlog's defaults. structlog hands its events to the standard library,
and one stderr handler renders those and the libraries' own stdlib records (Faust,
aiokafka, uvicorn) alike: JSON lines when stderr is not a terminal, so a process's output
is machine-readable end to end; readable columns when it is. A line logged inside a span
carries its ``trace_id`` and ``span_id`` (:mod:`schemas.tracing`).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from schemas.tracing import add_trace_ids

# Chatty at INFO and not actionable for an operator.
QUIET_LOGGERS = ("aiokafka", "faust.transport.drivers.aiokafka", "mode.timers")

_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_trace_ids,  # trace_id, span_id: a line found in the logs leads to its trace
]


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is at each record: a test runner swaps it per run."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(level: str = "INFO") -> None:
    """Route structlog and stdlib logging to stderr at ``level``. Idempotent; call it
    before Faust starts (its Worker is told not to touch logging)."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # before any work on a dropped event
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    tail: list[structlog.typing.Processor] = (
        [structlog.dev.ConsoleRenderer()]
        if sys.stderr.isatty()
        else [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    )
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    # Replace our handler from an earlier call; keep any a host installed (pytest's).
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
