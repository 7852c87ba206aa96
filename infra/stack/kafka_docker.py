"""Kafka in a Docker container, used by `up` when a Docker engine answers.

The container's data lives in a bind mount under JOBSTREAM_HOME, so it survives
`down` (which removes the container) exactly like the JVM runtime's data does.
"""

from __future__ import annotations

import shutil
import subprocess

from infra.stack.errors import ServiceError
from infra.stack.paths import StackPaths
from schemas.kafka import MAX_MESSAGE_BYTES
from schemas.settings import Settings

NAME = "kafka"
IMAGE = "apache/kafka:4.1.1"


def engine_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def container_name(settings: Settings) -> str:
    return f"jobstream-kafka-{settings.kafka_port}"


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False)


def is_running(settings: Settings) -> bool:
    done = _docker("inspect", "-f", "{{.State.Running}}", container_name(settings))
    return done.returncode == 0 and done.stdout.strip() == "true"


def start(settings: Settings, paths: StackPaths) -> str:
    name, port = container_name(settings), settings.kafka_port
    if is_running(settings):
        return f"already running (container {name})"
    _docker("rm", "-f", name)
    data = paths.datadir("kafka-docker")
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o777)  # the image runs as a non-root user
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://:{port},CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        "KAFKA_LOG_RETENTION_HOURS": "-1",
        "KAFKA_MESSAGE_MAX_BYTES": str(MAX_MESSAGE_BYTES),
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
    }
    args = [
        "run",
        "-d",
        "--name",
        name,
        "-p",
        f"127.0.0.1:{port}:{port}",
        "-v",
        f"{data}:/var/lib/kafka/data",
    ]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    done = _docker(*args, IMAGE)
    if done.returncode != 0:
        raise ServiceError(
            NAME,
            f"docker run {IMAGE} failed: {done.stderr.strip()}",
            hint="check `docker info`, or set JOBSTREAM_KAFKA_RUNTIME=jvm",
        )
    (paths.run / "kafka.version").write_text(f"{IMAGE.split(':')[1]} (docker {IMAGE})")
    return f"started (container {name}, {IMAGE})"


def stop(settings: Settings) -> bool:
    if _docker("inspect", container_name(settings)).returncode != 0:
        return False
    _docker("stop", "-t", "30", container_name(settings))
    _docker("rm", "-f", container_name(settings))
    return True
