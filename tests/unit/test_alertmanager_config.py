"""infra/alertmanager: amtool accepts the config, every severity the rules use reaches
its receiver, the Slack template shows each alert's runbook, and the webhook URLs go from
the env file to the files the config reads (never into the config)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.promql import ROOT, alerts, run, tool

ALERTMANAGER = ROOT / "infra" / "alertmanager"
CONFIG = ALERTMANAGER / "alertmanager.yml"


def config() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load(CONFIG.read_text())
    return loaded


def url_files() -> list[Path]:
    receivers = config()["receivers"]
    assert isinstance(receivers, list)
    return [Path(s["api_url_file"]) for r in receivers for s in r.get("slack_configs", [])]


def test_amtool_checks_the_config() -> None:
    output = run(tool("amtool"), "check-config", CONFIG)
    assert "SUCCESS" in output
    assert "1 templates" in output


@pytest.mark.parametrize("severity", sorted({a["labels"]["severity"] for a in alerts()}))
def test_each_severity_of_the_rules_reaches_its_receiver(severity: str) -> None:
    output = run(
        tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"severity={severity}",
        "alertname=JobStreamProcessDown",
    )
    assert output.split()[0] == f"slack-{severity}"


def test_the_slack_message_carries_summary_description_and_runbook(tmp_path: Path) -> None:
    alert = alerts()[0]
    notes = {k: f"the {k} of {alert['alert']}" for k in ("summary", "description", "runbook")}
    labels = {"alertname": alert["alert"], "severity": "critical"}
    data = {
        "receiver": "slack-critical",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "annotations": notes}],
        "groupLabels": {"alertname": alert["alert"]},
        "commonLabels": labels,
        "commonAnnotations": notes,
        "externalURL": "http://127.0.0.1:9095",
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    receiver = config()["receivers"][0]["slack_configs"][0]  # type: ignore[index]
    output = run(
        tool("amtool"),
        "template",
        "render",
        f"--template.glob={ALERTMANAGER / 'templates' / '*.tmpl'}",
        f"--template.text={receiver['title']}\n{receiver['text']}",
        f"--template.data={tmp_path / 'data.json'}",
    )
    assert output.startswith(f"[FIRING:1] {alert['alert']} (critical)"), output
    for note in notes.values():
        assert note in output


def test_webhook_urls_come_from_the_env_file_into_the_files_the_config_reads(
    tmp_path: Path,
) -> None:
    files = url_files()
    assert len({f.parent for f in files}) == 1, "one secrets folder"
    example = dict(
        line.split("=", 1)
        for line in (ALERTMANAGER / "alertmanager.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    env = {"PATH": os.environ["PATH"], "ALERTMANAGER_SECRETS_DIR": str(tmp_path), **example}
    done = subprocess.run(
        ["sh", str(ALERTMANAGER / "write-secrets.sh"), "true"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert sorted(written) == sorted(f.name for f in files)
    assert set(written.values()) == set(example.values())
    assert all((tmp_path / n).stat().st_mode & 0o077 == 0 for n in written), "mode 600"
    assert not any(url in CONFIG.read_text() for url in example.values())


def test_write_secrets_refuses_without_a_url(tmp_path: Path) -> None:
    done = subprocess.run(
        ["sh", str(ALERTMANAGER / "write-secrets.sh"), "true"],
        env={"PATH": os.environ["PATH"], "ALERTMANAGER_SECRETS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "SLACK_WEBHOOK_URL_CRITICAL" in done.stderr
    assert "alertmanager.env" in done.stderr
    assert list(tmp_path.iterdir()) == []
