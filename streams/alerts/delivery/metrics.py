"""Prometheus metrics of the delivery worker, in its own registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from streams.metrics import WorkerMetrics

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400)


@dataclass
class DeliveryMetrics(WorkerMetrics):
    def __post_init__(self) -> None:
        r = self.registry
        self.queued = Counter(
            "jobstream_alerts_delivery_queued",
            "Alerts written to a delivery ledger (channel: webhook or email).",
            ["channel"],
            registry=r,
        )
        self.delivered = Counter(
            "jobstream_alerts_delivered",
            "Alerts delivered (webhook 2xx, email accepted by the SMTP server).",
            ["channel"],
            registry=r,
        )
        self.failed = Counter(
            "jobstream_alerts_delivery_failed",
            "Failed attempts (reason: http_<status>, timeout, connect, refused, smtp, ...).",
            ["channel", "reason"],
            registry=r,
        )
        self.retried = Counter(
            "jobstream_alerts_delivery_retried",
            "Failed attempts scheduled again with backoff.",
            ["channel"],
            registry=r,
        )
        self.dead = Counter(
            "jobstream_alerts_delivery_dead",
            "Deliveries given up: webhooks to the dead-letter topic, emails failed.",
            ["channel"],
            registry=r,
        )
        self.latency = Histogram(
            "jobstream_alerts_delivery_latency_seconds",
            "From the alert's match to its delivery.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
