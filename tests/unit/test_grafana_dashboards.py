"""infra/grafana: the committed JSON is what dashboards.py writes, every panel's PromQL
parses (promtool) and reads only exported or recorded series, and the panels use the
datasource the provisioning declares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.grafana.dashboards import DASHBOARDS, FOLDER, rendered
from infra.grafana.panels import DATASOURCE, RATE
from tests.support.promql import ROOT, rules, run, tool, unknown_names

GRAFANA = ROOT / "infra" / "grafana"


def exprs() -> list[str]:
    return [expr for d in DASHBOARDS for p in d.panels for expr, _ in p.targets]


def check_parses(expressions: list[str], folder: Path) -> str:
    """``promtool check rules`` on the expressions as recording rules (Grafana's
    $__rate_interval read as 5m): promtool parses each with Prometheus's own parser."""
    group = {
        "name": "panels",
        "rules": [
            {"record": f"panel:expr_{i}:check", "expr": e.replace(RATE, "5m")}
            for i, e in enumerate(expressions)
        ],
    }
    path = folder / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}))
    return run(tool("promtool"), "check", "rules", path)


def test_committed_dashboards_are_the_generated_ones() -> None:
    committed = {p.name: p.read_text() for p in FOLDER.glob("*.json")}
    assert committed == rendered(), "run `python -m infra.grafana.dashboards`"


def test_every_panel_expression_parses(tmp_path: Path) -> None:
    assert f"SUCCESS: {len(exprs())} rules found" in check_parses(exprs(), tmp_path)


def test_a_broken_expression_is_caught(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="parse error"):
        check_parses(["sum(rate(jobstream_sink_events_consumed_total[5m])"], tmp_path)


def test_every_panel_reads_exported_or_recorded_series() -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    assert unknown_names(exprs(), recorded) == {}


def test_dashboards_cover_ingest_sink_api_and_kafka() -> None:
    assert [d.uid for d in DASHBOARDS] == [
        "jobstream-ingest",
        "jobstream-sink",
        "jobstream-api",
        "jobstream-kafka",
    ]
    for dashboard in json.loads("[" + ",".join(rendered().values()) + "]"):
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), dashboard["uid"]


def test_panels_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert [(d["type"], d["uid"]) for d in provisioned] == [(DATASOURCE["type"], DATASOURCE["uid"])]
    for text in rendered().values():
        for panel in json.loads(text)["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"] == DATASOURCE
