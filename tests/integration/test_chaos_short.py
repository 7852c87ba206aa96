"""The chaos run's short variant (the full one is ``make chaos``, tests/chaos/): 3,000
postings with updates and deletes through two gateways into the three-broker cluster,
two workers and two API instances, while one process of every kind -- a broker, a
gateway, a worker, an API instance, PostgreSQL, Redis -- is killed -9 and restarted with
`jobstream up`. Nothing acked is lost, the read model is the expected one posting by
posting, no dead letter, lag 0, no API instance stale after 1 s.

On the way, what an operator sees: `up --kafka-brokers 3` gives three KRaft nodes and
every topic 3 replicas with min.insync.replicas 2 (as Kafka's own tool reports them);
with a broker killed, `jobstream status` names the under-replicated partitions, "2 of 3
brokers", and exits 1; `up` restarts exactly the lost process.

And what Prometheus sees: Debian's prometheus runs infra/prometheus/prometheus.yml against
this stack (tests/support/prometheus.py); once it is up (with an alerts worker for the
check), every target of every job -- gateways, sink workers, alerts worker, delivery
worker, API instances, the three brokers' exporters -- is up and every rule evaluates;
with a broker killed, the brokers' exporters report under-replicated partitions, every
broker series the rules and dashboards read exists, and the API instances' commit ->
eviction histogram has counted invalidations at a sane latency."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from infra.grafana.dashboards import DASHBOARDS
from schemas.settings import load_settings
from tests.chaos.driver import SHAPE, Plan, assert_whole, chaos
from tests.support.cli import jobstream, kafka_row, kafka_topics_describe, pids, until
from tests.support.prometheus import Shape, running_prometheus
from tests.support.promql import broker_series, metric_names, rules
from tests.support.provision import free_port, free_ports_in_a_row, local_env, patched_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("JOBSTREAM_TEST_EXTERNAL") == "1",
        reason="JOBSTREAM_TEST_EXTERNAL=1: the suite must not start local services",
    ),
]


def test_one_kill_of_every_kind_loses_nothing_and_serves_fresh(tmp_path: Path) -> None:
    plan = Plan(postings=3_000, kills=6, pause_s=(0.5, 2.0), down_s=(0.3, 1.5))
    home = tmp_path / "chaos"
    env = local_env(home, kafka_brokers=3, instances=2)
    # Fixed metrics ports (not 0, a free one each) so that Prometheus knows its targets.
    env["JOBSTREAM_WORKER_METRICS_PORT"] = str(free_ports_in_a_row(2))
    env["JOBSTREAM_ALERTS_METRICS_PORT"] = str(free_port())
    with patched_env(env):
        settings = load_settings()
    shape = Shape(gateways=2, workers=2, alerts_workers=1, api_instances=2)
    base = int(env["JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])

    def cluster_is_replicated() -> None:
        """Status, Kafka's own tool and Prometheus look at once: three independent reads
        of the stack that is up (each waits mostly on a process starting)."""
        started = set(pids(home))
        assert {"kafka-2", "kafka-3", "gateway-2", "worker-1", "worker-2", "api-2"} <= started
        every = ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3))
        with ThreadPoolExecutor(2) as pool:
            status = pool.submit(kafka_row, env)
            tool = pool.submit(kafka_topics_describe, every, "postings.v1")
            every_target_up_and_every_rule_evaluates()
            row, described = status.result(), tool.result()
        assert row["healthy"], row["detail"]
        assert row["extra"]["brokers"] == [f"{i + 1}@127.0.0.1:{base + 2 * i}" for i in range(3)]
        assert row["extra"]["quorum"]["voters"] == [1, 2, 3]
        assert {t["replicas"] for t in row["extra"]["topics"]} == {3}
        assert "ReplicationFactor: 3" in described
        assert "min.insync.replicas=2" in described

    def every_target_up_and_every_rule_evaluates() -> None:
        """With an alerts worker started for the check (the chaos run has none: it
        stops again), every target is up and every rule evaluates."""
        assert SHAPE[-2:] == ("--alerts-workers", "0")
        began = time.monotonic()
        jobstream(env, "up", *SHAPE[:-1], str(shape.alerts_workers))
        waited = prometheus.wait_healthy()
        alerts = psutil.Process(pids(home)["alerts-1"])
        alerts.send_signal(signal.SIGTERM)
        alerts.wait(45)
        print(
            f"prometheus: every target up, every rule ok {waited:.1f} s after the alerts "
            f"worker started; with its start and stop {time.monotonic() - began:.1f} s"
        )

    def status_names_a_lost_broker(victim: str) -> None:
        """The status row that reports the under-replicated partitions is the one checked
        (not a second `status`); the text status's exit code and Prometheus's view are
        read at once."""
        if not victim.startswith("kafka"):
            return
        rows: list[dict[str, Any]] = []

        def under_replicated() -> bool:
            rows.append(kafka_row(env))
            return bool(rows[-1]["extra"].get("under_replicated_partitions", 0) > 0)

        until(under_replicated, 60, "status to report under-replicated partitions")
        row = rows[-1]
        assert not row["healthy"]
        assert "2 of 3 brokers" in row["detail"]
        with ThreadPoolExecutor(1) as pool:
            text = pool.submit(jobstream, env, "status", check=False)
            prometheus_sees_the_lost_broker()
            assert text.result().returncode == 1

    def prometheus_sees_the_lost_broker() -> None:
        began = time.monotonic()
        until(
            lambda: (prometheus.value("sum(kafka_server_under_replicated_partitions)") or 0) > 0,
            15,
            "the brokers' exporters to report under-replicated partitions",
        )
        # Every broker series a rule or panel reads, exported for real (with traffic by now).
        read = {n for r in rules() for n in metric_names(r["expr"])}
        read |= {
            n for d in DASHBOARDS for p in d.panels for e, _ in p.targets for n in metric_names(e)
        }
        names = set(prometheus.get("/api/v1/label/__name__/values"))
        assert read & broker_series() - names == set()
        # jobstream_api_freshness_seconds: the sink's commits reached both API instances.
        count = prometheus.value("sum(jobstream_api_freshness_seconds_count)")
        median = prometheus.value(
            "histogram_quantile(0.5, sum by (le) (jobstream_api_freshness_seconds_bucket))"
        )
        print(f"prometheus: {count} invalidations applied, commit -> eviction p50 {median} s")
        assert count is not None
        assert count > 0
        assert median is not None
        assert 0 < median < 1
        print(f"prometheus: the lost broker's checks took {time.monotonic() - began:.1f} s")

    with running_prometheus(settings, shape, tmp_path / "prometheus") as prometheus:
        report = chaos(
            env,
            plan,
            tmp_path / "chaos.json",
            on_up=cluster_is_replicated,
            on_killed=status_names_a_lost_broker,
        )
    assert_whole(report, plan)
    assert set(report["kills_by_kind"]) == {
        "broker", "gateway", "worker", "api", "postgres", "redis",
    }  # fmt: skip
