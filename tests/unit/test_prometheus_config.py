"""infra/prometheus: the config and rules pass promtool, the promtool unit tests pass and
cover every alert both ways, every alert says what to do, and every name a rule reads is
one the processes export."""

from __future__ import annotations

from pathlib import Path

import yaml

from schemas.settings import Settings
from tests.support.promql import (
    JMX_EXPORTER,
    PROMETHEUS,
    RULE_FILES,
    alerts,
    broker_series,
    metric_names,
    rules,
    run,
    tool,
    unknown_names,
)

TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))


def test_promtool_checks_the_config_and_its_rule_files() -> None:
    output = run(tool("promtool"), "check", "config", PROMETHEUS / "prometheus.yml")
    assert f"{len(RULE_FILES)} rule files found" in output


def test_promtool_checks_the_rules() -> None:
    output = run(tool("promtool"), "check", "rules", *RULE_FILES)
    assert output.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_pass() -> None:
    assert TEST_FILES
    run(tool("promtool"), "test", "rules", *TEST_FILES, cwd=PROMETHEUS / "tests")


def test_every_alert_is_tested_firing_and_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - fired == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_every_alert_says_what_is_wrong_and_what_to_do() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        notes = alert["annotations"]
        for key in ("summary", "description", "runbook"):
            assert len(notes.get(key, "")) > 20, f"{alert['alert']}: {key}"


def test_rules_read_only_exported_series() -> None:
    recorded = {r["record"] for r in rules() if "record" in r}
    assert unknown_names([r["expr"] for r in rules()], recorded) == {}


def test_the_name_check_catches_a_series_nobody_exports() -> None:
    expr = 'sum(rate(jobstream_sink_events_consumed_total[5m])) / jobstream_sink_lag{topic="x"}'
    assert metric_names(expr) == {"jobstream_sink_events_consumed_total", "jobstream_sink_lag"}
    assert unknown_names([expr]) == {expr: {"jobstream_sink_lag"}}


def test_scrape_targets_are_the_local_stack_default_ports() -> None:
    """`make demo` runs `up --workers 2`: one Kafka node, one gateway, two sink workers,
    one alerts worker, the delivery worker and one API, on the settings' default ports."""
    default = {name: f.default for name, f in Settings.model_fields.items()}
    expected = {
        "jobstream-gateway": [default["gateway_metrics_port"]],
        "jobstream-sink": [default["worker_metrics_port"], default["worker_metrics_port"] + 1],
        "jobstream-alerts": [default["alerts_metrics_port"]],
        "jobstream-alerts-delivery": [default["alerts_delivery_metrics_port"]],
        "jobstream-api": [default["api_port"]],
        "jobstream-kafka": [default["kafka_metrics_port"]],
    }
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    found = {
        job["job_name"]: [
            int(target.rsplit(":", 1)[1])
            for static in job["static_configs"]
            for target in static["targets"]
        ]
        for job in config["scrape_configs"]
        if job["job_name"].startswith("jobstream-")
    }
    assert found == expected


def test_rule_files_are_the_ones_prometheus_loads() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    loaded = sorted(PROMETHEUS / Path(p) for p in config["rule_files"])
    assert loaded == RULE_FILES


def test_the_broker_exporter_gives_each_series_a_fixed_name() -> None:
    """Rules and panels can only be checked against names the exporter's config fixes: no
    $n in a name, counters named ..._total as the agent exposes them."""
    config = yaml.safe_load(JMX_EXPORTER.read_text())
    for rule in config["rules"]:
        assert "$" not in rule["name"], rule
        assert rule["name"].endswith("_total") == (rule["type"] == "COUNTER"), rule
    assert "kafka_server_under_replicated_partitions" in broker_series()


def test_the_config_rendered_for_a_test_stack_passes_promtool(tmp_path: Path) -> None:
    """What the short chaos test runs Prometheus with: the real file, every job's targets
    on the stack's ports, the same rule files, 1 s intervals."""
    from tests.support.prometheus import Shape, render

    ports = ("gateway_metrics", "worker_metrics", "alerts_metrics", "alerts_delivery_metrics")
    settings = Settings(  # every port given: the suite's stack sets some JOBSTREAM_*_PORT to 0
        kafka_brokers=3,
        kafka_metrics_port=20000,
        api_port=20100,
        **{f"{name}_port": 21000 + 100 * i for i, name in enumerate(ports)},
    )
    config = render(settings, Shape(gateways=2, workers=2), own_port=9999)
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert jobs["jobstream-kafka"] == ["127.0.0.1:20000", "127.0.0.1:20001", "127.0.0.1:20002"]
    assert jobs["jobstream-sink"] == ["127.0.0.1:21100", "127.0.0.1:21101"]
    assert config["global"]["evaluation_interval"] == "1s"
    assert "alerting" not in config
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    assert f"{len(RULE_FILES)} rule files found" in run(tool("promtool"), "check", "config", path)
