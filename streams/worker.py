"""Run one sink worker in this process: logging, metrics server, then Faust's Worker.

Faust's Worker owns the event loop and the signals: SIGTERM/SIGINT stop the app, which
cancels the batch in flight (its transaction rolls back, its offsets stay unmarked)
and commits the checkpoints of the batches that completed.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import structlog

from schemas.settings import Settings


def run_worker(settings: Settings) -> NoReturn:
    import faust

    from schemas import tracing
    from schemas.logs import configure
    from streams.app import create_app
    from streams.metrics import SinkMetrics

    configure(settings.log_level)
    tracing.configure(tracing.WORKER)
    log = structlog.get_logger("streams.worker")
    metrics = SinkMetrics()
    try:
        port = metrics.serve(settings.worker_metrics_port, settings.metrics_host)
    except OSError as exc:
        log.error(
            "cannot serve metrics",
            port=settings.worker_metrics_port,
            error=str(exc),
            hint="another worker on this machine? set JOBSTREAM_WORKER_METRICS_PORT "
            "(0 picks a free port)",
        )
        sys.exit(2)
    app, _runtime = create_app(settings, metrics=metrics)
    log.info(
        "starting worker",
        group=settings.consumer_group,
        topic=settings.topic_postings,
        metrics_port=port,
        batch_max=settings.sink_batch_max,
        batch_wait_s=settings.sink_batch_wait_s,
    )
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, override_logging=False)
    worker.spinner = None  # a terminal spinner would write escape codes into the JSON logs
    worker.execute_from_commandline()
