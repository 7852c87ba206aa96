"""What the monitoring tests share: the series the processes really export (read from
their registries, not from a list), the metric names a PromQL expression uses, and
Debian's promtool/amtool, which the tests need (never skipped: ``make ops-deps``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "infra" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
JMX_EXPORTER = ROOT / "infra" / "kafka" / "jmx-exporter.yml"

# Series Prometheus adds to every scrape target itself.
SCRAPE_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)
# The samples a family of each type exposes (prometheus_client names a counter without
# its _total and a histogram without its _bucket / _sum / _count).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
}


def registries() -> list[CollectorRegistry]:
    """One registry per kind of process, built as each process builds its own."""
    import gateway.metrics  # noqa: F401  (registers the gateway's series in REGISTRY)
    from api.cache.stats import CacheCollector, CacheStats
    from api.metrics import ApiMetrics
    from streams.alerts.delivery.metrics import DeliveryMetrics
    from streams.alerts.metrics import AlertMetrics
    from streams.alerts.saved import MaterialiserMetrics
    from streams.metrics import SinkMetrics

    api = ApiMetrics()
    api.registry.register(CacheCollector(CacheStats))  # as TieredCache registers it
    alerts = AlertMetrics()
    MaterialiserMetrics(registry=alerts.registry)  # as the alerts worker adds it
    return [
        REGISTRY,
        SinkMetrics().registry,
        alerts.registry,
        DeliveryMetrics().registry,
        api.registry,
    ]


def broker_series() -> frozenset[str]:
    """The series the Kafka nodes' JMX exporter exports: one fixed name per rule of its
    config (a counter's already ends in _total). The integration test
    (tests/integration/test_chaos_short.py) finds each in a real Prometheus."""
    config = yaml.safe_load(JMX_EXPORTER.read_text())
    return frozenset(rule["name"] for rule in config["rules"])


def exported_series() -> frozenset[str]:
    """Every series name a JobStream process exposes on /metrics (the brokers' exporter
    included), plus Prometheus's own per-target series."""
    names = set(SCRAPE_SERIES) | broker_series()
    for registry in registries():
        for family in registry.collect():
            names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
    return frozenset(names)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*(?![\w:]|\s*\()")
KEYWORDS = frozenset(
    {"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan", "by", "without", "on"}
    | {"ignoring", "group_left", "group_right"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers outside strings, label
    matchers, ranges and grouping clauses that are neither functions nor keywords."""
    text = _STRING.sub('""', expr)
    for pattern in (_MATCHERS, _RANGES, _GROUPING):
        text = pattern.sub(" ", text)
    return {n for n in _NAME.findall(text) if n.lower() not in KEYWORDS}


def unknown_names(exprs: Iterable[str], recorded: Iterable[str] = ()) -> dict[str, set[str]]:
    """Per expression, the names it uses that no process exports and no rule records."""
    known = exported_series() | set(recorded)
    found = {expr: metric_names(expr) - known for expr in exprs}
    return {expr: names for expr, names in found.items() if names}


def rules() -> list[dict[str, Any]]:
    """Every recording and alert rule of infra/prometheus/rules."""
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def tool(name: str) -> str:
    """The path of Debian's promtool / amtool; fails (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is missing: `make ops-deps` as root installs it (infra/bootstrap.sh "
            "--ops: Debian's prometheus and prometheus-alertmanager), or "
            "`apt-get install prometheus prometheus-alertmanager`"
        )
    return path


def run(*args: str | Path, cwd: Path = ROOT) -> str:
    """Run a tool; its combined output, asserting it succeeded."""
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{output}"
    return output
