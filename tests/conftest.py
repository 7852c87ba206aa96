"""Session-wide fixtures: one real stack (Kafka, PostgreSQL+pgvector, Redis) per test run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from schemas.settings import Settings
from tests.support.provision import provide_stack

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a running stack; JOBSTREAM_* env vars are set for subprocesses."""
    with provide_stack(tmp_path_factory.mktemp("stack")) as settings:
        yield settings


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """A CLI run in-process (typer's CliRunner) configures structlog to print to the
    stderr of that run, which is closed afterwards: later logging would fail on it."""
    yield
    structlog.reset_defaults()
