"""Prometheus metrics of an alerts worker, in its own registry (the materialiser's join
it), served on ``settings.alerts_metrics_port`` like the sink's (streams/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from streams.metrics import WorkerMetrics

# Seconds a poll (or one of its stages) may take: a few ms idle, tens of seconds on a backlog.
POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class AlertMetrics(WorkerMetrics):
    def __post_init__(self) -> None:
        r = self.registry
        self.postings = Counter(
            "jobstream_alerts_postings_matched",
            "Changed postings matched against the saved searches.",
            registry=r,
        )
        self.matches = Counter(
            "jobstream_alerts_matches", "New alerts written to the ledger.", registry=r
        )
        self.closed = Counter(
            "jobstream_alerts_closed",
            "Alerts closed because their posting was deleted.",
            registry=r,
        )
        self.published = Counter(
            "jobstream_alerts_published", "Alert records acknowledged on alerts.v1.", registry=r
        )
        self.recovered = Counter(
            "jobstream_alerts_recovered",
            "Alerts found already on alerts.v1 (a publisher died before marking them).",
            registry=r,
        )
        self.bad_invalidations = Counter(
            "jobstream_alerts_bad_invalidations",
            "cache-invalidation.v1 records that are no Invalidation (skipped).",
            registry=r,
        )
        self.batch_seconds = Histogram(
            "jobstream_alerts_batch_seconds",
            "Time to match one poll of invalidations and publish its alerts.",
            buckets=POLL_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "jobstream_alerts_latency_seconds",
            "From the posting's commit (Invalidation.committed_at) to its alert's ack.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.lag = Gauge(
            "jobstream_alerts_consumer_lag",
            "Invalidations not yet matched, per partition (log end - position).",
            ["partition"],
            registry=r,
        )
        self.candidates = Counter(
            "jobstream_alerts_candidates",
            "(posting, saved search) pairs the in-memory index proposed for SQL to verify.",
            registry=r,
        )
        self.saved_held = Gauge(
            "jobstream_alerts_saved_searches_held",
            "Saved searches held in memory by the matcher.",
            registry=r,
        )
        self.stage_seconds = Histogram(
            "jobstream_alerts_stage_seconds",
            "Time per poll in each stage (match: candidates, verify and ledger; publish).",
            ["stage"],
            buckets=POLL_BUCKETS,
            registry=r,
        )
