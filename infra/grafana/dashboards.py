"""The Grafana dashboards, declared once here and written as the JSON Grafana provisions
(infra/grafana/dashboards/*.json): ``python -m infra.grafana.dashboards`` after a change.

Panels read only series the processes export or the recording rules of
infra/prometheus/rules (tests/unit/test_grafana_dashboards.py checks both, and that the
JSON is what this module writes). Broker-side Kafka metrics (under-replicated partitions,
ISR, traffic per topic, request latency) come from each node's JMX exporter agent
(infra/kafka/jmx-exporter.yml, job ``jobstream-kafka``).
"""

from __future__ import annotations

import json
from pathlib import Path

from infra.grafana.panels import (
    RATE,
    Dashboard,
    Panel,
    dashboard_json,
    process_panels,
    quantiles,
    rate,
)

FOLDER = Path(__file__).resolve().parent / "dashboards"


INGEST = Dashboard(
    "jobstream-ingest",
    "JobStream / Ingest (gateway)",
    (
        Panel(
            "Postings accepted / s",
            (rate("jobstream_gateway_records_accepted_total", "instance"),),
            "ops",
        ),
        Panel(
            "Postings rejected / s by reason",
            (rate("jobstream_gateway_records_rejected_total", "reason"),),
            "ops",
        ),
        Panel(
            "Rejection ratio (alert over 5 %)",
            (("jobstream:gateway_rejection_ratio:rate5m", "rejected"),),
            "percentunit",
        ),
        Panel(
            "Batches / s by outcome", (rate("jobstream_gateway_batches_total", "outcome"),), "ops"
        ),
        Panel(
            "Batch latency: read to ack (validation, Kafka acks, sequence record)",
            quantiles("jobstream_gateway_batch_latency_seconds"),
            "s",
        ),
        Panel(
            "Streams ended with an error / s by code",
            (rate("jobstream_gateway_stream_errors_total", "code"),),
            "ops",
        ),
        Panel("Limits hit / s", (rate("jobstream_gateway_limited_total", "limit"),), "ops"),
        Panel(
            "Open streams and in-flight records",
            (
                ("sum(jobstream_gateway_active_streams)", "open streams"),
                ("sum(jobstream_gateway_inflight_records)", "in-flight records"),
            ),
        ),
        *process_panels("jobstream-gateway"),
    ),
)

SINK = Dashboard(
    "jobstream-sink",
    "JobStream / Sink (workers)",
    (
        Panel(
            "Events consumed / s",
            (rate("jobstream_sink_events_consumed_total", "instance"),),
            "ops",
        ),
        Panel(
            "Rows changed / s",
            (
                rate("jobstream_sink_upserted_total", "kind"),
                (f"sum(rate(jobstream_sink_skipped_stale_total[{RATE}]))", "stale (no change)"),
            ),
            "ops",
        ),
        Panel("Batch latency: poll to durable", quantiles("jobstream_sink_batch_seconds"), "s"),
        Panel("Events per batch", quantiles("jobstream_sink_batch_events")),
        Panel(
            "Consumer lag per partition",
            (
                (
                    "max by (topic, partition) (jobstream_sink_consumer_lag)",
                    "{{topic}} p{{partition}}",
                ),
            ),
        ),
        Panel(
            "Dead letters / s by class",
            (rate("jobstream_sink_dead_lettered_total", "error_class"),),
            "ops",
        ),
        Panel(
            "Transient retries / s",
            (rate("jobstream_sink_transient_retries_total", "instance, operation"),),
            "ops",
        ),
        Panel(
            "Invalidations published / s",
            (rate("jobstream_sink_invalidations_sent_total", ""),),
            "ops",
        ),
        *process_panels("jobstream-sink"),
    ),
)

API = Dashboard(
    "jobstream-api",
    "JobStream / API and cache",
    (
        Panel(
            "GraphQL operations / s",
            (rate("jobstream_api_graphql_operations_total", "operation, outcome"),),
            "ops",
        ),
        Panel(
            "Error ratio (alert over 5 %)",
            (("jobstream:api_graphql_error_ratio:rate5m", "errors"),),
            "percentunit",
        ),
        Panel(
            "Latency percentiles (alert: p99 over 250 ms)",
            (("jobstream:api_graphql_seconds:quantile5m", "q{{quantile}}"),),
            "s",
        ),
        Panel(
            "p99 by operation",
            quantiles("jobstream_api_graphql_seconds", "operation")[1:],
            "s",
        ),
        Panel(
            "Cache hit rate per level",
            (
                ("jobstream:cache_level_hit_ratio:rate5m", "{{level}}"),
                ("jobstream:cache_hit_ratio:rate5m", "L1 or L2"),
            ),
            "percentunit",
        ),
        Panel(
            "Cache hits / s by kind and level",
            (rate("jobstream_cache_hits_total", "kind, level"),),
            "ops",
        ),
        Panel(
            "Loads / s (both levels missed)",
            (
                rate("jobstream_cache_loads_total", "kind"),
                (f"sum(rate(jobstream_cache_stale_loads_total[{RATE}]))", "not stored (stale)"),
            ),
            "ops",
        ),
        Panel(
            "Data generation (invalidation-log position)",
            (("max by (instance) (jobstream_cache_data_generation)", "{{instance}}"),),
            kind="stat",
        ),
        Panel(
            "Freshness: a commit to its eviction here (alert: p99 over 1 s)",
            (
                ("jobstream:api_freshness_seconds:p99_5m", "p99 (all)"),
                *quantiles("jobstream_api_freshness_seconds", "path"),
            ),
            "s",
            description="jobstream_api_freshness_seconds: from the sink's commit of a "
            "posting change (Invalidation.committed_at) to each API instance evicting it; "
            "path kafka (the invalidation log) or outbox (the outbox watch, when Kafka takes "
            "invalidations late). Invariant 6 (docs/architecture.md) promises 1 s.",
        ),
        Panel(
            "Invalidations applied / s by path",
            (rate("jobstream_api_freshness_seconds_count", "path"),),
            "ops",
        ),
        Panel(
            "L1 entries and Redis (L2)",
            (
                ("sum by (instance) (jobstream_cache_l1_entries)", "L1 entries {{instance}}"),
                ("min by (instance) (jobstream_cache_redis_healthy)", "Redis in use {{instance}}"),
                (f"sum(rate(jobstream_cache_l2_errors_total[{RATE}]))", "Redis errors / s"),
            ),
        ),
        *process_panels("jobstream-api"),
    ),
)

KAFKA = Dashboard(
    "jobstream-kafka",
    "JobStream / Kafka (brokers, and as the processes see it)",
    (
        Panel(
            "Partitions at risk (alerts over 0)",
            (
                ("jobstream:kafka_under_replicated_partitions:sum", "under-replicated"),
                ("jobstream:kafka_under_min_isr_partitions:sum", "under min ISR (writes refused)"),
                ("jobstream:kafka_offline_partitions:max", "offline (no leader)"),
            ),
            description="From each node's JMX exporter (infra/kafka/jmx-exporter.yml): a "
            "partition counts on its leader's broker.",
        ),
        Panel(
            "Active controllers (exactly 1)",
            (("jobstream:kafka_active_controllers:sum", "active controllers"),),
            kind="stat",
        ),
        Panel(
            "ISR shrinks and expands / s per broker",
            (
                (
                    f"sum by (instance) (rate(kafka_server_isr_shrinks_total[{RATE}]))",
                    "shrinks {{instance}}",
                ),
                (
                    f"sum by (instance) (rate(kafka_server_isr_expands_total[{RATE}]))",
                    "expands {{instance}}",
                ),
            ),
            "ops",
        ),
        Panel(
            "Partitions and leaders per broker",
            (
                ("sum by (instance) (kafka_server_partitions)", "replicas {{instance}}"),
                ("sum by (instance) (kafka_server_leader_partitions)", "leaders {{instance}}"),
            ),
        ),
        Panel(
            "Bytes in / out per topic",
            (
                (f"sum by (topic) (rate(kafka_topic_bytes_in_total[{RATE}]))", "in {{topic}}"),
                (
                    f"sum by (topic) (rate(kafka_topic_bytes_out_total[{RATE}]))",
                    "out {{topic}}",
                ),
            ),
            "Bps",
        ),
        Panel(
            "Records in / s per topic",
            (rate("kafka_topic_messages_in_total", "topic"),),
            "ops",
        ),
        Panel(
            "Produce and Fetch requests / s",
            (rate("kafka_network_requests_total", "request"),),
            "reqps",
        ),
        Panel(
            "Request total time per broker (Produce, Fetch)",
            (
                (
                    'max by (request, instance) (kafka_network_request_time_ms{quantile="0.99"})',
                    "{{request}} p99 {{instance}}",
                ),
                (
                    'max by (request) (kafka_network_request_time_ms{quantile="0.50"})',
                    "{{request}} p50",
                ),
            ),
            "ms",
        ),
        Panel(
            "Log size per topic (all replicas)",
            (("sum by (topic) (kafka_log_size_bytes)", "{{topic}}"),),
            "bytes",
        ),
        *process_panels("jobstream-kafka"),
        Panel(
            "Produced: postings acked by Kafka / s",
            (rate("jobstream_gateway_records_accepted_total", ""),),
            "ops",
        ),
        Panel(
            "Consumed: postings.v1 and cache-invalidation.v1 / s",
            (
                (f"sum(rate(jobstream_sink_events_consumed_total[{RATE}]))", "sink (postings.v1)"),
                (
                    f"sum(rate(jobstream_alerts_postings_matched_total[{RATE}]))",
                    "alerts (cache-invalidation.v1)",
                ),
            ),
            "ops",
        ),
        Panel(
            "Sink lag per partition (postings.v1)",
            (
                (
                    "max by (topic, partition) (jobstream_sink_consumer_lag)",
                    "{{topic}} p{{partition}}",
                ),
            ),
        ),
        Panel(
            "Alerts lag (cache-invalidation.v1, saved-searches.v1)",
            (
                ("max by (partition) (jobstream_alerts_consumer_lag)", "matcher p{{partition}}"),
                ("max(jobstream_alerts_materialiser_lag)", "saved searches"),
            ),
        ),
        Panel(
            "Invalidations: published by the sink, applied by each API / s",
            (
                (f"sum(rate(jobstream_sink_invalidations_sent_total[{RATE}]))", "published"),
                (f"deriv(jobstream_cache_data_generation[{RATE}])", "applied {{instance}}"),
            ),
            "ops",
        ),
        Panel(
            "Commit to alert ack (freshness of the invalidation consumers)",
            quantiles("jobstream_alerts_latency_seconds"),
            "s",
        ),
        Panel(
            "Dead-letter topics / s",
            (
                (f"sum(rate(jobstream_sink_dead_lettered_total[{RATE}]))", "postings.v1.dlq"),
                (f"sum(rate(jobstream_alerts_delivery_dead_total[{RATE}]))", "alert deliveries"),
            ),
            "ops",
        ),
    ),
)

DASHBOARDS = (INGEST, SINK, API, KAFKA)


def rendered() -> dict[str, str]:
    """File name -> the JSON text of each dashboard."""
    return {
        f"{d.uid.removeprefix('jobstream-')}.json": json.dumps(dashboard_json(d), indent=2) + "\n"
        for d in DASHBOARDS
    }


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (FOLDER / name).write_text(text)
        print(FOLDER / name)


if __name__ == "__main__":
    main()
