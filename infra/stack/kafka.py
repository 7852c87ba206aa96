"""Apache Kafka, one KRaft node, as a JVM process.

The jars come from an existing KAFKA_HOME or, by default, from Maven Central through
infra/kafka/pom.xml; Maven caches them in ~/.m2 and we cache the resolved classpath in
~/.cache/jobstream, so only the first `up` on a machine needs the network.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.stack import process
from infra.stack.errors import ServiceError
from infra.stack.paths import StackPaths
from schemas.kafka import MAX_MESSAGE_BYTES
from schemas.settings import Settings

NAME = "kafka"
POM = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
TEMPLATE = POM.parent / "server.properties"
CACHE = Path.home() / ".cache" / "jobstream"
_JAR_VERSION = re.compile(r"kafka_2\.1\d-(\d+\.\d+\.\d+)\.jar$")


@dataclass(frozen=True)
class KafkaRuntime:
    classpath: str
    version: str
    source: str  # "maven" or "KAFKA_HOME=<path>"


def resolve_runtime(settings: Settings) -> KafkaRuntime:
    if settings.kafka_home is not None:
        return _from_kafka_home(settings.kafka_home)
    return _from_maven()


def _from_kafka_home(home: Path) -> KafkaRuntime:
    libs = home / "libs"
    jars = sorted(libs.glob("*.jar"))
    if not jars:
        raise ServiceError(
            NAME,
            f"KAFKA_HOME={home} has no libs/*.jar",
            hint="point KAFKA_HOME at an unpacked Apache Kafka distribution",
        )
    return KafkaRuntime(f"{libs}/*", _version_of(jars), f"KAFKA_HOME={home}")


def _from_maven() -> KafkaRuntime:
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cpfile = CACHE / f"kafka-classpath-{digest}.txt"
    if not _classpath_ok(cpfile):
        _resolve_with_maven(cpfile)
    classpath = cpfile.read_text().strip()
    return KafkaRuntime(classpath, _version_of([Path(p) for p in classpath.split(":")]), "maven")


def _classpath_ok(cpfile: Path) -> bool:
    if not cpfile.exists():
        return False
    entries = cpfile.read_text().strip().split(":")
    return bool(entries) and all(Path(e).exists() for e in entries)


def _resolve_with_maven(cpfile: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError(
            NAME,
            "Maven (mvn) is not installed, so the Kafka jars cannot be resolved",
            hint="install Maven (apt-get install maven), or set KAFKA_HOME "
            "to an unpacked Kafka distribution",
        )
    cpfile.parent.mkdir(parents=True, exist_ok=True)
    log = CACHE / "maven.log"
    with log.open("wb") as out:
        done = subprocess.run(
            [mvn, "-B", "-q", "-f", str(POM), "generate-resources", f"-Dclasspath.file={cpfile}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not _classpath_ok(cpfile):
        cpfile.unlink(missing_ok=True)
        raise ServiceError(
            NAME,
            "Maven could not resolve the Kafka jars",
            log=log,
            hint="check network access to Maven Central, or set KAFKA_HOME",
        )


def _version_of(jars: list[Path]) -> str:
    for jar in jars:
        match = _JAR_VERSION.search(jar.name)
        if match:
            return match.group(1)
    return "unknown"


def java() -> str:
    found = shutil.which("java")
    if found is None:
        raise ServiceError(
            NAME,
            "Java is not installed (Kafka needs Java 17+)",
            hint="install a JDK 17+ (apt-get install openjdk-17-jre-headless)",
        )
    return found


def render_config(settings: Settings, paths: StackPaths) -> Path:
    config = paths.run / "kafka.properties"
    config.write_text(
        TEMPLATE.read_text().format(
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            data_dir=paths.datadir(NAME),
            max_message_bytes=MAX_MESSAGE_BYTES,
        )
    )
    return config


def _format_storage(runtime: KafkaRuntime, config: Path, paths: StackPaths) -> None:
    data = paths.datadir(NAME)
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    log = paths.log(NAME)
    with log.open("ab") as out:
        done = subprocess.run(
            [
                java(),
                "-cp",
                runtime.classpath,
                "kafka.tools.StorageTool",
                "format",
                # "=": a random id may start with "-", which argparse would take for an option.
                f"--cluster-id={_cluster_id()}",
                "-c",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise ServiceError(
            NAME,
            "formatting the KRaft storage failed",
            log=log,
            hint=f"remove {data} (loses Kafka data) and run `jobstream up` again",
        )


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def start(settings: Settings, paths: StackPaths) -> str:
    """Start the broker unless it runs; return a one-line description."""
    pidfile = paths.pidfile(NAME)
    log = paths.log(NAME)
    host, port = "127.0.0.1", settings.kafka_port
    if process.running(pidfile) is not None:
        return "already running"
    for p in (port, settings.kafka_controller_port):
        if process.port_open(host, p):
            owner = process.port_owner(p) or "another process"
            raise ServiceError(
                NAME,
                f"port {p} is already taken by {owner}",
                log=log,
                hint="stop it, or choose other ports with "
                "JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS / JOBSTREAM_KAFKA_CONTROLLER_PORT",
            )
    runtime = resolve_runtime(settings)
    config = render_config(settings, paths)
    _format_storage(runtime, config, paths)
    argv = [
        java(),
        f"-Xms{settings.kafka_heap}",
        f"-Xmx{settings.kafka_heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
        "-Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info",
        "-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.utils.AppInfoParser=info",
        "-cp",
        runtime.classpath,
        "kafka.Kafka",
        str(config),
    ]
    proc = process.spawn(argv, log=log, pidfile=pidfile)
    (paths.run / "kafka.version").write_text(f"{runtime.version} ({runtime.source})")
    if not process.wait_until(
        lambda: process.port_open(host, port),
        timeout=settings.startup_timeout_s,
        alive=proc.is_running,
    ):
        last = process.tail(log)
        cause = _likely_cause(last)
        process.stop(pidfile, timeout=5)
        raise ServiceError(
            NAME,
            f"the broker did not start listening on {host}:{port}{cause}",
            log=log,
            hint="read the log's last lines:\n" + last,
        )
    return f"started (Kafka {runtime.version}, {runtime.source})"


def _likely_cause(log_tail: str) -> str:
    if "UnsupportedClassVersionError" in log_tail:
        return ": Java is too old (Kafka 4 needs Java 17+)"
    if "Address already in use" in log_tail:
        return ": a port is already in use"
    if "Invalid cluster.id" in log_tail or "meta.properties" in log_tail:
        return ": the data folder belongs to another cluster"
    return ""


def version(paths: StackPaths) -> str:
    try:
        return (paths.run / "kafka.version").read_text().strip()
    except FileNotFoundError:
        return "unknown"


def stop(paths: StackPaths) -> bool:
    return process.stop(paths.pidfile(NAME), timeout=30)
