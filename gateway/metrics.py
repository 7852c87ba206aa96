"""Prometheus metrics of the gateway, defined once per process (the default registry).

Several gateways in one process (tests) share these series, which is what a counter
should do; ``start_metrics_server`` is idempotent per port for the same reason.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

BATCHES = Counter(
    "jobstream_gateway_batches_total",
    "Ingest batches answered, by outcome (acked, duplicate).",
    ["outcome"],
)
ACCEPTED = Counter(
    "jobstream_gateway_records_accepted_total", "Postings written to Kafka and acked."
)
REJECTED = Counter(
    "jobstream_gateway_records_rejected_total",
    "Postings refused before Kafka, by reason.",
    ["reason"],
)
STREAM_ERRORS = Counter(
    "jobstream_gateway_stream_errors_total",
    "Ingest streams ended with an error status, by gRPC code.",
    ["code"],
)
BATCH_LATENCY = Histogram(
    "jobstream_gateway_batch_latency_seconds",
    "From reading a batch to sending its ack (validation + Kafka acks + sequence record).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
INFLIGHT = Gauge(
    "jobstream_gateway_inflight_records", "Records read from clients and not yet acked."
)
STREAMS = Gauge("jobstream_gateway_active_streams", "Open Ingest streams.")
LIMITED = Counter(
    "jobstream_gateway_limited_total",
    "Calls refused or batches slowed by a limit (gateway/limits.py), by limit.",
    ["limit"],
)

_started: set[int] = set()


def start_metrics_server(port: int, host: str) -> bool:
    """Serve /metrics on ``host:port`` (port 0 = disabled; host: JOBSTREAM_METRICS_HOST);
    True when this call started it."""
    if port <= 0 or port in _started:
        return False
    start_http_server(port, addr=host)
    _started.add(port)
    return True
