"""Maintenance settings: a bad cron, an unknown zone or a malformed error class fails at
start naming the variable; the defaults are the documented ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from schemas.settings import SettingsError, load_settings
from schemas.topics import topic_specs

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    s = load_settings()
    assert s.maintenance_cron == "0 2 * * *"
    assert s.maintenance_timezone == "UTC"
    assert s.is_retryable("db_check_violation")
    assert s.is_retryable("unexpected")
    assert not s.is_retryable("undecodable")
    assert not s.is_retryable("key_mismatch")
    ops = [t for t in topic_specs(s) if t.name == "operations.v1"]
    assert len(ops) == 1
    assert ops[0].partitions == 1


def test_values_are_normalised() -> None:
    s = load_settings(
        maintenance_cron="30  3 * * 1-5",
        maintenance_timezone="Europe/Berlin",
        retryable_error_classes=" db_* , unexpected,",
    )
    assert s.maintenance_cron == "30 3 * * 1-5"
    assert s.retryable_error_classes == ("db_*", "unexpected")


@pytest.mark.parametrize(
    ("field", "value", "variable", "says"),
    [
        ("maintenance_cron", "61 * * * *", "JOBSTREAM_MAINTENANCE_CRON", "5-field cron"),
        ("maintenance_cron", "* * * * * *", "JOBSTREAM_MAINTENANCE_CRON", "5-field cron"),
        ("maintenance_cron", "daily", "JOBSTREAM_MAINTENANCE_CRON", "5-field cron"),
        ("maintenance_timezone", "Mars/Olympus", "JOBSTREAM_MAINTENANCE_TIMEZONE", "IANA"),
        ("maintenance_timezone", "../etc/passwd", "JOBSTREAM_MAINTENANCE_TIMEZONE", "IANA"),
        ("retryable_error_classes", "DB Errors", "JOBSTREAM_RETRYABLE_ERROR_CLASSES", "bad"),
        ("topic_operations", "postings.v1", "JOBSTREAM_TOPIC_OPERATIONS", "differ"),
    ],
)
def test_bad_values_name_the_variable(field: str, value: str, variable: str, says: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(**{field: value})
    message = str(info.value)
    if field == "topic_operations":
        assert variable in message
    else:
        assert f"{variable}:" in message
    assert says in message


def test_a_worker_with_a_bad_cron_fails_at_start_naming_it() -> None:
    env = {"JOBSTREAM_MAINTENANCE_CRON": "0 25 * * *", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "streams"], cwd=ROOT, env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 2
    assert b"JOBSTREAM_MAINTENANCE_CRON" in proc.stderr
