"""Infra files that users run directly: the Dockerfile, docker-compose and the Kafka pom/config."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices

from schemas.settings import Settings

INFRA = Path(__file__).resolve().parents[2] / "infra"


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The documented defaults, whatever stack the session fixture pointed the env at."""
    import os

    for key in list(os.environ):
        if key.startswith("JOBSTREAM_") or key in {"DATABASE_URL", "REDIS_URL", "KAFKA_HOME"}:
            monkeypatch.delenv(key)
    return Settings(_env_file=None)  # type: ignore[call-arg]


COMPOSE = INFRA / "docker-compose.yml"
SERVERS = {"kafka", "kafka-2", "kafka-3", "postgres", "redis"}
# Placeholders for the secrets compose requires (infra/.env.example names them).
SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret",
    "REDIS_PASSWORD": "redis-secret",
    "JOBSTREAM_INGEST_TOKEN": "ingest-secret",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret",
}


def _compose() -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _app_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services run from the repository's image (built from its Dockerfile)."""
    return {n: s for n, s in compose["services"].items() if "build" in s}


def _podman_compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    """podman-compose (the dev extra installs it into the venv beside this interpreter)."""
    from infra.container.podman import INSTALL_HINT

    binary = Path(sys.executable).with_name("podman-compose")
    if not binary.exists():
        pytest.fail("podman-compose is missing: `make deps` installs it (the dev extra)")
    if shutil.which("podman") is None:  # podman-compose asks `podman version` first
        pytest.fail(f"podman is missing: {INSTALL_HINT} (`make container-deps`)")
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [str(binary), "--env-file", str(env_file), "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=INFRA,
        env=env,
    )


def test_docker_compose_config_is_valid_and_refuses_to_start_without_its_secrets(
    tmp_path: Path,
) -> None:
    """podman-compose resolves the file (anchors, merges, variables) as `docker compose
    config` does; with a secret missing it names it instead of running without."""
    import yaml

    example = (INFRA / ".env.example").read_text()
    assert {f"{k}=" for k in SECRETS} <= set(example.split())
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    done = _podman_compose("config", env_file=env_file)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert set(resolved["services"]) == set(_compose()["services"])
    api_env = resolved["services"]["api"]["environment"]
    assert api_env["DATABASE_URL"] == "postgresql://postgres:pg-secret@postgres:5432/jobstream"
    assert api_env["REDIS_URL"] == "redis://:redis-secret@redis:6379/0"

    env_file.write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items() if k != "REDIS_PASSWORD"))
    refused = _podman_compose("config", env_file=env_file)
    assert refused.returncode != 0
    assert "REDIS_PASSWORD" in refused.stdout + refused.stderr


def test_every_service_is_health_checked_but_the_one_shot_init() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        if name == "init":
            assert service["command"] == ["init"]
            assert service["restart"] == "no"
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_every_process_waits_for_healthy_servers_and_a_completed_init() -> None:
    compose = _compose()
    apps = _app_services(compose)
    assert {"init", "gateway", "worker-1", "worker-2", "api"} <= set(apps)
    assert set(apps["init"]["depends_on"]) == SERVERS
    for name, service in apps.items():
        needs = service["depends_on"]
        for server in SERVERS:
            assert needs[server] == {"condition": "service_healthy"}, (name, server)
        if name != "init":
            assert needs["init"] == {"condition": "service_completed_successfully"}, name
        assert service["build"]["context"] == ".."
        assert (INFRA / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_compose_runs_commands_the_cli_has() -> None:
    from typer.main import get_command

    from infra.cli import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    for name, service in _app_services(_compose()).items():
        if "entrypoint" in service:  # a module of the image: python -m streams.alerts...
            module = service["entrypoint"][2]
            assert importlib.util.find_spec(module) is not None, (name, module)
        else:
            assert service["command"][0] in commands, name


def test_compose_variables_name_real_settings() -> None:
    """Every JOBSTREAM_* (and DATABASE_URL / REDIS_URL) a process is given is a field of
    schemas/settings.py, so none is silently ignored."""
    known: set[str] = set()
    for name, field in Settings.model_fields.items():
        known.add(f"JOBSTREAM_{name.upper()}")
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            known.update(str(choice) for choice in alias.choices)
    given = {
        variable
        for service in _app_services(_compose()).values()
        for variable in service["environment"]
    }
    assert {"DATABASE_URL", "REDIS_URL", "JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"} <= given
    assert given - known == set()


def test_prometheus_in_compose_scrapes_every_process_with_the_rules_of_the_host_stack() -> None:
    import yaml

    from tests.support.promql import PROMETHEUS, RULE_FILES, run, tool

    config_path = PROMETHEUS / "prometheus.compose.yml"
    output = run(tool("promtool"), "check", "config", config_path)
    assert f"{len(RULE_FILES)} rule files found" in output
    config = yaml.safe_load(config_path.read_text())
    host = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == host["rule_files"]
    jobs = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in config["scrape_configs"]
    }
    # the same job names as the host-run stack's: the rules and alerts select by job
    assert set(jobs) <= {job["job_name"] for job in host["scrape_configs"]}
    targets = {t.split(":")[0] for found in jobs.values() for t in found}
    apps = set(_app_services(_compose())) - {"init"}
    assert apps <= targets, f"not scraped: {apps - targets}"
    alertmanager = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanager == ["alertmanager:9093"]


def test_compose_mounts_only_files_that_exist() -> None:
    """The Prometheus, Alertmanager and Grafana files it mounts are in the repository (the
    alertmanager.env it reads is the user's copy of alertmanager.env.example)."""
    compose = _compose()
    named = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source in named:
                continue
            assert (INFRA / source).exists(), (name, source)
        for env_file in service.get("env_file", []):
            assert (INFRA / f"{env_file['path']}.example").is_file(), name
    grafana = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["grafana"]["volumes"]}
    datasources = INFRA / grafana["/etc/grafana/provisioning/datasources"] / "prometheus.yml"
    assert "url: http://prometheus:9090" in datasources.read_text()
    assert (INFRA / grafana["/etc/grafana/provisioning/dashboards"] / "jobstream.yml").is_file()
    assert list((INFRA / grafana["/var/lib/grafana/dashboards/jobstream"]).glob("*.json"))


def test_the_dockerfile_builds_a_non_root_image_on_a_chosen_base() -> None:
    dockerfile = (INFRA.parent / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm\n" in dockerfile
    assert dockerfile.count("FROM ${BASE_IMAGE}") == 1  # the other stages build on it
    assert 'ENTRYPOINT ["jobstream"]' in dockerfile
    final = dockerfile[dockerfile.rindex("\nFROM ") :]
    assert "\nUSER jobstream\n" in final
    assert "apt-get" not in final
    assert "pip" not in final.replace("PIP_", "")
    ignored = (INFRA.parent / ".dockerignore").read_text().split()
    assert {"*", "infra/.env", "infra/alertmanager/alertmanager.env"} <= set(ignored)


def test_docker_compose_uses_the_local_stack_ports(defaults: Settings) -> None:
    import yaml

    compose = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    s = defaults
    ports = {name: svc.get("ports", []) for name, svc in compose["services"].items()}
    assert f"127.0.0.1:{s.kafka_port}:{s.kafka_port}" in ports["kafka"]
    assert f"127.0.0.1:{s.postgres_port}:5432" in ports["postgres"]
    assert f"127.0.0.1:{s.redis_port}:6379" in ports["redis"]
    # the processes on their default ports (each in its own container; worker 2 on the next)
    assert f"127.0.0.1:{s.gateway_port}:{s.gateway_port}" in ports["gateway"]
    assert f"127.0.0.1:{s.gateway_metrics_port}:{s.gateway_metrics_port}" in ports["gateway"]
    assert ports["worker-1"] == [f"127.0.0.1:{s.worker_metrics_port}:{s.worker_metrics_port}"]
    assert ports["worker-2"] == [f"127.0.0.1:{s.worker_metrics_port + 1}:{s.worker_metrics_port}"]
    assert f"127.0.0.1:{s.alerts_metrics_port}:{s.alerts_metrics_port}" in ports["alerts"]
    assert ports["delivery"] == [
        f"127.0.0.1:{s.alerts_delivery_metrics_port}:{s.alerts_delivery_metrics_port}"
    ]
    assert f"127.0.0.1:{s.api_port}:{s.api_port}" in ports["api"]
    assert compose["services"]["postgres"]["image"].startswith("pgvector/pgvector")


def test_docker_compose_publishes_on_loopback_only_with_passwords_from_the_env_file() -> None:
    """No service on every interface, no password in the file: each comes from infra/.env
    and compose refuses to start without it (``${VAR:?message}``)."""
    import yaml

    text = (INFRA / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    for name, service in compose["services"].items():
        for published in service.get("ports", []):
            assert str(published).startswith("127.0.0.1:"), (name, published)
    postgres = compose["services"]["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    redis = compose["services"]["redis"]
    assert "--requirepass" in redis["command"]
    assert redis["command"][redis["command"].index("--requirepass") + 1].startswith(
        "${REDIS_PASSWORD:?"
    )
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")  # healthcheck
    assert "POSTGRES_PASSWORD: postgres" not in text
    example = (INFRA / ".env.example").read_text()
    assert {"POSTGRES_PASSWORD=", "REDIS_PASSWORD="} <= set(example.split())
    ignored = (INFRA.parent / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_kafka_pom_pins_a_4x_broker() -> None:
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(INFRA / "kafka" / "pom.xml").getroot()
    version = root.find("m:properties/m:kafka.version", ns)
    assert version is not None
    assert version.text is not None
    assert version.text.startswith("4.")


def test_server_properties_template_renders(tmp_path: Path, defaults: Settings) -> None:
    from infra.stack.kafka import render_config
    from infra.stack.paths import StackPaths

    paths = StackPaths.create(tmp_path)
    text = render_config(defaults, paths, 1).read_text()
    assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093" in text
    assert f"log.dirs={tmp_path.resolve() / 'data' / 'kafka'}" in text
    assert "controller.quorum.voters=1@127.0.0.1:9093\n" in text
    assert "default.replication.factor=1\nmin.insync.replicas=1\n" in text
    assert "{" not in text


def test_a_three_node_cluster_renders_a_quorum_and_replicated_defaults(
    tmp_path: Path, defaults: Settings
) -> None:
    from infra.stack.kafka import node_name, render_config
    from infra.stack.paths import StackPaths

    paths = StackPaths.create(tmp_path)
    cluster = defaults.model_copy(update={"kafka_brokers": 3})
    assert cluster.local_kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    text = render_config(cluster, paths, 3).read_text()
    assert "node.id=3\n" in text
    voters = "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert f"controller.quorum.voters={voters}\n" in text
    assert "listeners=PLAINTEXT://127.0.0.1:9096,CONTROLLER://127.0.0.1:9097" in text
    assert f"log.dirs={tmp_path.resolve() / 'data' / node_name(3)}" in text
    assert "default.replication.factor=3\nmin.insync.replicas=2\n" in text
    assert "offsets.topic.replication.factor=3\n" in text


@pytest.mark.integration
def test_kraft_storage_formats_with_a_cluster_id_that_starts_with_a_dash(
    tmp_path: Path, defaults: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One random cluster id in 64 starts with "-"; argparse must not take it for an option."""
    from infra.stack import kafka
    from infra.stack.paths import StackPaths

    monkeypatch.setattr(kafka, "_cluster_id", lambda: "-abcdefghijklmnopqrstu")
    paths = StackPaths.create(tmp_path)
    config = kafka.render_config(defaults, paths, 1)
    cluster_id = kafka._cluster(defaults, paths)
    kafka._format_storage(kafka.resolve_runtime(defaults), config, paths, "kafka", cluster_id)
    meta = (paths.datadir("kafka") / "meta.properties").read_text()
    assert "cluster.id=-abcdefghijklmnopqrstu" in meta


def test_a_damaged_node_count_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    from infra.stack import kafka
    from infra.stack.errors import ServiceError
    from infra.stack.paths import StackPaths

    paths = StackPaths.create(tmp_path)
    assert kafka.expected_nodes(paths) is None
    (paths.run / "kafka.nodes").write_text("3\n")
    assert kafka.expected_nodes(paths) == 3
    (paths.run / "kafka.nodes").write_text("three")
    with pytest.raises(ServiceError, match="node count"):
        kafka.expected_nodes(paths)


def test_init_starts_nothing_and_names_servers_it_cannot_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`jobstream init` (compose's one-shot service) only talks to the servers the settings
    name: with none there it exits 1 naming the broker, and has started no local one."""
    from typer.testing import CliRunner

    from infra.cli import app
    from tests.support.provision import free_port

    port = free_port()
    monkeypatch.setenv("JOBSTREAM_HOME", str(tmp_path))
    monkeypatch.setenv("JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    monkeypatch.setenv("JOBSTREAM_STARTUP_TIMEOUT_S", "1")
    done = CliRunner().invoke(app, ["init"])
    assert done.exit_code == 1, done.output
    assert f"no broker answered at 127.0.0.1:{port}" in " ".join(done.output.split())
    assert not list(tmp_path.iterdir())  # no data, logs or pid files: nothing was started


def test_the_local_base_is_debootstrapped_from_the_machines_debian_mirror(tmp_path: Path) -> None:
    """The archive of the apt sources (one-line or deb822), never the security one."""
    from infra.container.image import DEFAULT_MIRROR, debian_mirror

    assert debian_mirror(tmp_path) == DEFAULT_MIRROR
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# URIs: http://old.example/debian\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://local.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://local.example/debian"
