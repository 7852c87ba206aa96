"""Prometheus metrics of a worker, in its own registry (no import-time globals) that also
exports ``process_*`` and ``python_*`` (schemas/metrics.py).

Served by prometheus_client's HTTP server on ``settings.worker_metrics_port`` (0 picks a
free port; the chosen port is logged). Faust's own web server stays off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from schemas.metrics import process_registry


@dataclass
class WorkerMetrics:
    """A worker's registry and its /metrics server (sink, alerts and delivery workers)."""

    registry: CollectorRegistry = field(default_factory=process_registry)

    def serve(self, port: int, addr: str) -> int:
        """Start the /metrics HTTP server on ``addr`` (JOBSTREAM_METRICS_HOST) in a thread;
        returns the bound port (0 = a free one was picked)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(server.server_port)


@dataclass
class SinkMetrics(WorkerMetrics):
    def __post_init__(self) -> None:
        r = self.registry
        self.consumed = Counter(
            "jobstream_sink_events_consumed", "Posting events read from the log.", registry=r
        )
        self.upserted = Counter(
            "jobstream_sink_upserted",
            "Postings changed in PostgreSQL (kind: upsert or delete).",
            ["kind"],
            registry=r,
        )
        self.stale = Counter(
            "jobstream_sink_skipped_stale",
            "Events that changed nothing: an equal or higher version was already stored.",
            registry=r,
        )
        self.dead_lettered = Counter(
            "jobstream_sink_dead_lettered",
            "Poison records sent to the dead-letter topic.",
            ["error_class"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "jobstream_sink_batch_seconds",
            "Time to make one batch durable (decode, write, dead letters, invalidation).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.batch_events = Histogram(
            "jobstream_sink_batch_events",
            "Events per batch.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.lag = Gauge(
            "jobstream_sink_consumer_lag",
            "Events in the log not yet durable, per partition (log end - checkpoint).",
            ["topic", "partition"],
            registry=r,
        )
        self.retries = Counter(
            "jobstream_sink_transient_retries",
            "Retries after a transient failure (operation: database, dead_letters, ...).",
            ["operation"],
            registry=r,
        )
        self.invalidations = Counter(
            "jobstream_sink_invalidations_sent",
            "Events published on cache-invalidation.v1.",
            registry=r,
        )
        self.index_builds = Counter(
            "jobstream_sink_vector_index_builds",
            "Vector index changes (reason: create, rebuild or drop).",
            ["reason"],
            registry=r,
        )
