"""The shape of a JobStream dashboard and its Grafana JSON: panels two a row, every PromQL
target on the provisioned Prometheus datasource (provisioning/datasources/prometheus.yml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Panel:
    """One panel: PromQL targets as (expr, legend); ``kind`` timeseries, stat or text."""

    title: str
    targets: tuple[tuple[str, str], ...] = ()
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]


def quantiles(histogram: str, by: str = "") -> tuple[tuple[str, str], ...]:
    """p50 and p99 of a histogram over all instances (and ``by`` labels)."""
    labels = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return tuple(
        (
            f"histogram_quantile({q}, sum by ({labels}) (rate({histogram}_bucket[{RATE}])))",
            f"p{round(q * 100)}{suffix}",
        )
        for q in (0.5, 0.99)
    )


def rate(counter: str, by: str, selector: str = "") -> tuple[str, str]:
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(",")) if by else "all"
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (rate({counter}{selector}[{RATE}]))", legend


def process_panels(job: str) -> tuple[Panel, ...]:
    """CPU and memory of every instance of a job (process_* series)."""
    return (
        Panel(
            "CPU (cores)",
            ((f'rate(process_cpu_seconds_total{{job="{job}"}}[{RATE}])', "{{instance}}"),),
        ),
        Panel(
            "Resident memory",
            ((f'process_resident_memory_bytes{{job="{job}"}}', "{{instance}}"),),
            unit="bytes",
        ),
    )


def panel_json(panel: Panel, number: int) -> dict[str, Any]:
    """Two panels a row, 8 units high, in declaration order."""
    grid = {"h": 8, "w": 12, "x": 12 * (number % 2), "y": 8 * (number // 2)}
    body: dict[str, Any] = {"id": number + 1, "type": panel.kind, "title": panel.title}
    body["gridPos"] = grid
    if panel.kind == "text":
        return body | {"options": {"mode": "markdown", "content": panel.description}}
    if panel.description:  # Grafana shows it behind the panel title's (i)
        body["description"] = panel.description
    return body | {
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": e, "legendFormat": lf}
            for i, (e, lf) in enumerate(panel.targets)
        ],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["jobstream"],
        "editable": False,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "panels": [panel_json(p, i) for i, p in enumerate(dashboard.panels)],
    }
