"""Debian's Prometheus against a test stack: the config is infra/prometheus/prometheus.yml
itself (loaded, its targets replaced by the stack's real ports, the same rule files,
scrape and evaluation every second), on a free port with a data folder of its own."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from infra.stack.kafka import metrics_ports
from schemas.settings import Settings
from tests.support.promql import PROMETHEUS, tool
from tests.support.provision import free_port


@dataclass(frozen=True)
class Shape:
    """How many instances of each process `jobstream up` started."""

    gateways: int = 1
    workers: int = 1
    alerts_workers: int = 1
    api_instances: int = 1


def targets(settings: Settings, shape: Shape, own_port: int) -> dict[str, list[str]]:
    """Every scrape job's targets for a stack on ``settings``'s ports (the counting-up
    rule of infra/stack/apps.py and kafka.py: instance i on the first's port + i - 1)."""

    def run(first: int, count: int) -> list[str]:
        assert first > 0 or count == 0, "a scraped process needs a fixed port, not 0"
        return [f"127.0.0.1:{first + i}" for i in range(count)]

    return {
        "prometheus": run(own_port, 1),
        "jobstream-gateway": run(settings.gateway_metrics_port, shape.gateways),
        "jobstream-sink": run(settings.worker_metrics_port, shape.workers),
        "jobstream-alerts": run(settings.alerts_metrics_port, shape.alerts_workers),
        "jobstream-alerts-delivery": run(settings.alerts_delivery_metrics_port, 1),
        "jobstream-api": run(settings.api_port, shape.api_instances),
        "jobstream-kafka": [f"127.0.0.1:{port}" for port in metrics_ports(settings)],
    }


def render(settings: Settings, shape: Shape, own_port: int) -> dict[str, Any]:
    """infra/prometheus/prometheus.yml for this stack: its jobs with the stack's targets,
    the same rule files (absolute paths), a 1 s scrape and evaluation interval, no
    Alertmanager. A job the stack has no targets for fails here, so a new job in the
    file needs its ports added above."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    found = targets(settings, shape, own_port)
    jobs = [job["job_name"] for job in config["scrape_configs"]]
    assert sorted(jobs) == sorted(found), "a scrape job this test does not know"
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS / path) for path in config["rule_files"]]
    config.pop("alerting", None)
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": found[job["job_name"]]}]
    return config


class Prometheus:
    """A running Prometheus's HTTP API."""

    def __init__(self, url: str, expected: dict[str, list[str]]) -> None:
        self.url = url
        self.expected = expected

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=expr)["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The one sample ``expr`` gives now (None: no sample)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def problems(self) -> list[str]:
        """What is not healthy yet: a target not up (or missing), a rule not evaluated
        ok (or with an error)."""
        found: dict[str, dict[str, str]] = {}
        for target in self.get("/api/v1/targets")["activeTargets"]:
            job = found.setdefault(target["labels"]["job"], {})
            job[target["labels"]["instance"]] = target["health"] + (
                f" ({target['lastError']})" if target["lastError"] else ""
            )
        wrong = [
            f"{job} {instance}: {found.get(job, {}).get(instance, 'not a target')}"
            for job, instances in self.expected.items()
            for instance in instances
            if found.get(job, {}).get(instance) != "up"
        ]
        groups = self.get("/api/v1/rules")["groups"]
        assert groups, "no rule group loaded"
        for group in groups:
            for rule in group["rules"]:
                if rule["health"] != "ok" or rule.get("lastError"):
                    name = rule["name"]
                    wrong.append(f"rule {name}: {rule['health']} {rule.get('lastError', '')}")
        return wrong

    def wait_healthy(self, timeout_s: float = 30.0) -> float:
        """Seconds until every target of every job is up and every rule evaluates ok;
        fails naming what is not after ``timeout_s``."""
        started = time.monotonic()
        wrong: list[str] = []
        while time.monotonic() - started < timeout_s:
            wrong = self.problems()
            if not wrong:
                return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"Prometheus after {timeout_s:.0f} s: {wrong}")


@contextmanager
def running_prometheus(settings: Settings, shape: Shape, folder: Path) -> Iterator[Prometheus]:
    """Debian's prometheus (``make ops-deps``) scraping the stack ``settings`` describe;
    stopped on exit. It may start before the stack: targets are down until it is up."""
    binary = tool("prometheus")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(render(settings, shape, port)))
    log = (folder / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={folder / 'data'}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", targets(settings, shape, port))
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (folder / "prometheus.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "Prometheus did not become ready in 30 s"
                time.sleep(0.2)
        yield prometheus
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
