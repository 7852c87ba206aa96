"""The settings object: defaults, overrides, and errors that name the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schemas.settings import Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("JOBSTREAM_") or key in {"DATABASE_URL", "REDIS_URL", "KAFKA_HOME"}:
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults() -> None:
    s = load_settings()
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.topics == (
        "postings.v1",
        "postings.v1.dlq",
        "cache-invalidation.v1",
        "gateway-sequences.v1",
        "operations.v1",
        "api-keys.v1",
        "saved-searches.v1",
        "alerts.v1",
        "alerts.v1.webhook-dlq",
    )
    assert s.topic_partitions == 6
    assert s.embedding_dim == 384
    assert s.postgres_dsn == "postgresql://postgres@127.0.0.1:5433/jobstream"
    assert s.redis_dsn == "redis://127.0.0.1:6380/0"
    assert not s.external_postgres
    assert not s.external_redis


def test_environment_overrides_and_conventional_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBSTREAM_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/x")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
    monkeypatch.setenv("JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS", "a:9092, b:9093")
    s = load_settings()
    assert s.topic_partitions == 12
    assert s.postgres_dsn == "postgresql://u:p@db:5432/x"
    assert s.external_postgres
    assert s.redis_dsn == "redis://cache:6379/1"
    assert s.external_redis
    assert s.kafka_bootstrap_servers == "a:9092,b:9093"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("JOBSTREAM_TOPIC_PARTITIONS", "0", "greater than or equal to 1"),
        ("JOBSTREAM_TOPIC_PARTITIONS", "six", "valid integer"),
        ("JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS", "localhost", "host:port"),
        ("JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS", "", "host:port"),
        ("JOBSTREAM_POSTGRES_PORT", "70000", "less than or equal to 65535"),
        ("JOBSTREAM_REDIS_PORT", "-1", "greater than or equal to 1"),
        ("DATABASE_URL", "mysql://x/y", "postgresql://"),
        ("REDIS_URL", "http://cache", "redis://"),
        ("JOBSTREAM_TOPIC_POSTINGS", "bad topic!", "topic name"),
        ("JOBSTREAM_TOPIC_DEAD_LETTERS", "postings.v1", "each name a different topic"),
        ("JOBSTREAM_TOPIC_OPERATIONS", "cache-invalidation.v1", "each name a different topic"),
        ("JOBSTREAM_API_WORKERS", "0", "greater than or equal to 1"),
        ("JOBSTREAM_EMBEDDING_DIM", "1", "greater than or equal to 2"),
        ("JOBSTREAM_LOG_LEVEL", "LOUD", "DEBUG"),
        ("JOBSTREAM_KAFKA_HEAP", "lots", "pattern"),
        ("JOBSTREAM_STARTUP_TIMEOUT_S", "0", "greater than 0"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    shown = "JOBSTREAM_TOPIC_*" if "different topic" in expected else variable
    assert shown in message
    assert expected in message


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOBSTREAM_TOPIC_PARTITIONS", "0")
    monkeypatch.setenv("JOBSTREAM_REDIS_PORT", "x")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "JOBSTREAM_TOPIC_PARTITIONS" in str(info.value)
    assert "JOBSTREAM_REDIS_PORT" in str(info.value)


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(Exception, match="frozen"):
        s.topic_partitions = 3  # type: ignore[misc]


def test_cli_fails_at_start_with_the_variable_name(tmp_path: Path) -> None:
    import os

    env = {**os.environ, "JOBSTREAM_TOPIC_PARTITIONS": "-3", "JOBSTREAM_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "infra", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "JOBSTREAM_TOPIC_PARTITIONS" in done.stderr
    assert "Traceback" not in done.stderr


def test_default_ports_do_not_collide_with_up_to_8_sink_and_4_alerts_workers() -> None:
    """`up --workers N --alerts-workers M` counts metrics ports up from each base: the
    demo's second sink worker once took the alerts worker's port."""
    s = Settings.model_construct()
    ports = [
        s.api_port,
        s.gateway_port,
        s.gateway_metrics_port,
        s.alerts_delivery_metrics_port,
        *(s.worker_metrics_port + i for i in range(8)),
        *(s.alerts_metrics_port + i for i in range(4)),
    ]
    assert len(ports) == len(set(ports)), sorted(ports)
