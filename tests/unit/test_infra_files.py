"""Infra files that users run directly: docker-compose and the Kafka pom/config."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

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


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return (
        subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )


@pytest.mark.skipif(not _compose_available(), reason="the docker client with compose is absent")
def test_docker_compose_config_is_valid() -> None:
    done = subprocess.run(
        ["docker", "compose", "-f", str(INFRA / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_docker_compose_uses_the_local_stack_ports(defaults: Settings) -> None:
    import yaml

    compose = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    s = defaults
    ports = {name: svc["ports"] for name, svc in compose["services"].items()}
    assert f"127.0.0.1:{s.kafka_port}:{s.kafka_port}" in ports["kafka"]
    assert f"127.0.0.1:{s.postgres_port}:5432" in ports["postgres"]
    assert f"127.0.0.1:{s.redis_port}:6379" in ports["redis"]
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
