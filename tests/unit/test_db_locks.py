"""Advisory-lock keys are declared once (schemas.db.locks) and never shared by two jobs."""

from __future__ import annotations

import re
from pathlib import Path

from schemas.db.locks import AdvisoryLock

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("schemas", "gateway", "streams", "api", "infra")
LOCK_CALL = re.compile(r"pg_(?:try_)?advisory_(?:un)?lock\(\$1\)\"?,\s*([\w.]+)")


def test_every_job_has_its_own_key() -> None:
    values = [lock.value for lock in AdvisoryLock.__members__.values()]
    assert len(values) == len(set(values))
    assert all(0 < v < 2**63 for v in values)  # a PostgreSQL bigint


def test_every_advisory_lock_call_names_a_declared_key() -> None:
    keys = [
        (path.relative_to(ROOT), key)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for key in LOCK_CALL.findall(path.read_text())
    ]
    assert keys, "no advisory-lock call found: has the pattern gone stale?"
    assert [(path, key) for path, key in keys if not key.startswith("AdvisoryLock.")] == []
