"""The API's /metrics over HTTP: process series, one charset, OpenMetrics on request
(Litestar appends a charset to any text/ media type, so the route must not name one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from schemas.settings import Settings
from tests.support.api import Api, app_settings, running_api
from tests.support.sink import make_topics

OPENMETRICS = "application/openmetrics-text"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def bare_api(stack: Settings) -> AsyncIterator[Api]:
    """An API on fresh, empty topics: /metrics needs no corpus."""
    async with running_api(app_settings(stack, await make_topics(stack))) as api:
        yield api


async def test_metrics_have_process_series_and_one_charset(bare_api: Api) -> None:
    response = await bare_api.client.get("/metrics")
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type == "text/plain; version=0.0.4; charset=utf-8", content_type
    text = response.text
    for series in ("process_cpu_seconds_total", "process_open_fds", "python_info"):
        assert f"\n{series}" in text, series
    assert "jobstream_cache_data_generation" in text


async def test_metrics_answer_openmetrics_when_asked(bare_api: Api) -> None:
    response = await bare_api.client.get(
        "/metrics", headers={"accept": f"{OPENMETRICS}; version=1.0.0,text/plain;q=0.5"}
    )
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith(f"{OPENMETRICS}; version=1.0.0"), content_type
    assert content_type.count("charset") == 1, content_type
    assert response.text.endswith("# EOF\n")
    assert "# TYPE jobstream_api_graphql_operations counter" in response.text
