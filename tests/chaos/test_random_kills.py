"""The full chaos run (``make chaos``): 100,000 postings with updates and deletes among
them, 20 kill -9s of brokers, gateways, workers, API instances, PostgreSQL and Redis,
each restarted with `jobstream up`. Report: tests/bench/results/chaos.json. The short
variant in the suite is tests/integration/test_chaos_short.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.driver import Plan, assert_whole, chaos
from tests.support.provision import local_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "chaos.json"


def test_random_kills_lose_nothing_and_serve_fresh(tmp_path: Path) -> None:
    plan = Plan(
        postings=int(os.environ.get("CHAOS_POSTINGS", 100_000)),
        kills=int(os.environ.get("CHAOS_KILLS", 20)),
    )
    env = local_env(tmp_path / "chaos", kafka_brokers=3, instances=2)
    assert_whole(chaos(env, plan, RESULTS), plan)
