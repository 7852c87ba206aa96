"""Every process's private registry exports the process series the gateway's default
registry has (process_*, python_*), and the API negotiates OpenMetrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from api.metrics import ApiMetrics
from streams.alerts.delivery.metrics import DeliveryMetrics
from streams.alerts.metrics import AlertMetrics
from streams.metrics import SinkMetrics

PROCESS_SERIES = {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"}


def names(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


@pytest.mark.parametrize("metrics", [SinkMetrics, AlertMetrics, DeliveryMetrics, ApiMetrics])
def test_private_registries_export_process_and_python_series(metrics: type) -> None:
    exported = names(metrics().registry)
    assert exported >= PROCESS_SERIES, sorted(exported)
    assert any(n.startswith("python_gc_") for n in exported), sorted(exported)


def test_two_registries_in_one_process_do_not_clash() -> None:
    assert names(SinkMetrics().registry) & names(SinkMetrics().registry) >= PROCESS_SERIES


def test_api_metrics_speak_prometheus_text_by_default() -> None:
    body, content_type = ApiMetrics().render(None)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name for f in text_string_to_metric_families(body.decode())}
    assert "process_cpu_seconds" in families


def test_api_metrics_speak_openmetrics_when_asked() -> None:
    body, content_type = ApiMetrics().render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert content_type.count("charset") == 1
    assert body.endswith(b"# EOF\n")
