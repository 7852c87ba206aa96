"""The chaos run's short variant (the full one is ``make chaos``, tests/chaos/): 3,000
postings with updates and deletes through two gateways into the three-broker cluster,
two workers and two API instances, while one process of every kind -- a broker, a
gateway, a worker, an API instance, PostgreSQL, Redis -- is killed -9 and restarted with
`jobstream up`. Nothing acked is lost, the read model is the expected one posting by
posting, no dead letter, lag 0, no API instance stale after 1 s.

On the way, what an operator sees: `up --kafka-brokers 3` gives three KRaft nodes and
every topic 3 replicas with min.insync.replicas 2 (as Kafka's own tool reports them);
with a broker killed, `jobstream status` names the under-replicated partitions, "2 of 3
brokers", and exits 1; `up` restarts exactly the lost process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.driver import Plan, assert_whole, chaos
from tests.support.cli import jobstream, kafka_row, kafka_topics_describe, pids, until
from tests.support.provision import local_env

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
    base = int(env["JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])

    def cluster_is_replicated() -> None:
        row = kafka_row(env)
        assert row["healthy"], row["detail"]
        assert row["extra"]["brokers"] == [f"{i + 1}@127.0.0.1:{base + 2 * i}" for i in range(3)]
        assert row["extra"]["quorum"]["voters"] == [1, 2, 3]
        assert {t["replicas"] for t in row["extra"]["topics"]} == {3}
        every = ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3))
        described = kafka_topics_describe(every, "postings.v1")
        assert "ReplicationFactor: 3" in described
        assert "min.insync.replicas=2" in described
        started = set(pids(home))
        assert {"kafka-2", "kafka-3", "gateway-2", "worker-1", "worker-2", "api-2"} <= started

    def status_names_a_lost_broker(victim: str) -> None:
        if not victim.startswith("kafka"):
            return
        until(
            lambda: kafka_row(env)["extra"].get("under_replicated_partitions", 0) > 0,
            60,
            "status to report under-replicated partitions",
        )
        row = kafka_row(env)
        assert not row["healthy"]
        assert "2 of 3 brokers" in row["detail"]
        assert jobstream(env, "status", check=False).returncode == 1

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
