"""Integration-only session hooks: the container image build starts at collection."""

from __future__ import annotations

import pytest

from tests.support.container import start_build, stop_build

CONTAINER_TEST = "test_container_image.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(item.path.name == CONTAINER_TEST for item in items):
        start_build(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_build(config)
