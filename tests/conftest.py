"""Fixtures shared by every test folder: one real stack (Kafka, PostgreSQL+pgvector, Redis)
per test run, and the API corpus set (``topics``, ``worker``, ``api``) that the API, web
and browser tests load once per module. A module that needs fresh topics per test
defines its own ``topics`` and ``worker``, which take precedence over these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
import structlog

from schemas.settings import Settings
from tests.support.provision import provide_stack

if TYPE_CHECKING:  # imported when used, so unit tests never load the API app
    from tests.support.api import Api
    from tests.support.sink import Topics, WorkerProcess

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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def topics(stack: Settings) -> Topics:
    """Fresh topics, an empty table and an empty L2 for a module that loads the corpus."""
    from tests.support.api import corpus_topics

    return await corpus_topics(stack)


@pytest.fixture(scope="module")
def worker(topics: Topics, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """A sink worker on the module's topics, for the module's lifetime."""
    from tests.support.sink import WorkerProcess

    proc = WorkerProcess(topics, tmp_path_factory.mktemp("corpus-worker")).start()
    yield proc
    proc.terminate()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def api(stack: Settings, topics: Topics, worker: WorkerProcess) -> AsyncIterator[Api]:
    """One in-process app with the corpus published through it and landed by the worker."""
    from tests.support.api import app_settings, publish_corpus, running_api

    async with running_api(app_settings(stack, topics)) as api:
        await publish_corpus(api, stack)
        yield api
