"""``jobstream api --workers W``: each worker's OpenMP (the e5 engine) gets its share of
the cores, so W workers' threads do not all contend for every core."""

from __future__ import annotations

import os
from typing import Any

import pytest
import uvicorn

from api.cli import api_command


def _unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Absent during the test and restored after it (``api_command`` sets it)."""
    monkeypatch.setenv(name, "")
    monkeypatch.delenv(name)


def _serve(monkeypatch: pytest.MonkeyPatch, workers: int) -> dict[str, Any]:
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    for name in ("JOBSTREAM_API_HOST", "JOBSTREAM_API_PORT"):
        _unset(monkeypatch, name)
    api_command(host="127.0.0.1", port=18765, workers=workers)
    return started


def test_workers_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    _unset(monkeypatch, "OMP_NUM_THREADS")
    started = _serve(monkeypatch, 2)
    assert started["workers"] == 2
    assert os.environ["OMP_NUM_THREADS"] == "2"


def test_an_explicit_thread_count_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    _serve(monkeypatch, 2)
    assert os.environ["OMP_NUM_THREADS"] == "3"
