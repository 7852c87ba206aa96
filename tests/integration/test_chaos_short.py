"""The chaos run's short variant (the full one is ``make chaos``, tests/chaos/): 3,000
postings with updates and deletes through two gateways into the three-broker cluster,
two workers and two API instances, while one process of every kind -- a broker, a
gateway, a worker, an API instance, PostgreSQL, Redis -- is killed -9 and restarted with
`jobstream up`. Nothing acked is lost, the read model is the expected one posting by
posting, no dead letter, lag 0, no API instance stale after 1 s."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.driver import Plan, assert_whole, chaos
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
    env = local_env(tmp_path / "chaos", kafka_brokers=3, instances=2)
    report = chaos(env, plan, tmp_path / "chaos.json")
    assert_whole(report, plan)
    assert set(report["kills_by_kind"]) == {
        "broker", "gateway", "worker", "api", "postgres", "redis",
    }  # fmt: skip
