"""The CI workflow runs what the README promises: `make test` on pushes and pull requests
on a fresh Debian as root with pip and Maven caches keyed on their inputs, and the long
targets (`make chaos`, `make load`) on a schedule; every target it calls exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def triggers(data: dict[Any, Any]) -> dict[str, Any]:
    on = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert isinstance(on, dict), on
    return on


def commands(job: dict[str, Any]) -> str:
    """Every shell line the job runs, matrix values substituted."""
    runs = [str(step.get("run", "")) for step in job["steps"]]
    for entry in job.get("strategy", {}).get("matrix", {}).get("include", [{}]):
        runs += [r.replace("${{ matrix.run }}", str(entry.get("run", ""))) for r in runs]
    return "\n".join(runs)


def make_targets(text: str) -> set[str]:
    """Targets of the `make` commands (a command's start, not `apt-get install make`)."""
    found = re.findall(r"(?:^|&&|;)\s*make ([\w -]+)", text, re.MULTILINE)
    return {target for cmd in found for target in cmd.split()}


def cache_keys(job: dict[str, Any]) -> dict[str, str]:
    return {
        str(step["with"]["path"]): str(step["with"]["key"])
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/cache@")
    }


def test_make_test_runs_on_pushes_and_pull_requests_as_root_with_keyed_caches() -> None:
    data = workflow()
    on = triggers(data)
    assert "push" in on
    assert "pull_request" in on
    job = data["jobs"]["test"]
    assert "push" in job["if"]
    assert "pull_request" in job["if"]
    assert "schedule" not in job["if"]
    assert job["container"]["image"].startswith("debian:")  # root: bootstrap.sh may apt-get
    assert "make test" in commands(job)
    keys = cache_keys(job)
    pip = next(k for p, k in keys.items() if p.endswith(".cache/pip"))
    m2 = next(k for p, k in keys.items() if p.endswith(".m2"))
    assert "hashFiles('pyproject.toml'" in pip
    assert "hashFiles('infra/kafka/pom.xml')" in m2
    assert data["env"]["PIP_CACHE_DIR"].startswith(next(p for p in keys if p.endswith("pip")))
    assert next(p for p in keys if p.endswith(".m2")) in data["env"]["MAVEN_OPTS"]


def test_chaos_and_load_run_on_a_schedule() -> None:
    data = workflow()
    cron = triggers(data)["schedule"][0]["cron"]
    assert len(cron.split()) == 5
    job = data["jobs"]["nightly"]
    assert "schedule" in job["if"]
    assert {"chaos", "load"} <= make_targets(commands(job))


def test_every_make_target_the_workflow_calls_exists() -> None:
    data = workflow()
    called = set().union(*(make_targets(commands(job)) for job in data["jobs"].values()))
    defined = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    assert called >= {"test", "chaos", "load"}
    assert called <= defined, f"not in the Makefile: {called - defined}"
