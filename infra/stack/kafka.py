"""Apache Kafka as JVM processes: one KRaft node, or a cluster of
``JOBSTREAM_KAFKA_BROKERS`` nodes each a broker and a controller (``kafka``, ``kafka-2``,
... with their own ports, data folder, log and pid file).

The jars come from an existing KAFKA_HOME or, by default, from Maven Central through
infra/kafka/pom.xml; Maven caches them in ~/.m2 and we cache the resolved classpath in
~/.cache/jobstream, so only the first `up` on a machine needs the network.

Each node also loads the Prometheus JMX exporter as a Java agent (resolved by the same
pom), serving its broker metrics on ``JOBSTREAM_KAFKA_METRICS_PORT`` + node - 1 with the
MBeans infra/kafka/jmx-exporter.yml names; port 0 runs the brokers without it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

from infra.stack import process
from infra.stack.errors import ServiceError
from infra.stack.paths import USER_CACHE, StackPaths
from schemas.kafka import MAX_MESSAGE_BYTES
from schemas.settings import Settings

NAME = "kafka"
POM = Path(__file__).resolve().parent.parent / "kafka" / "pom.xml"
TEMPLATE = POM.parent / "server.properties"
EXPORTER_CONFIG = POM.parent / "jmx-exporter.yml"
CACHE = USER_CACHE
_JAR_VERSION = re.compile(r"kafka_2\.1\d-(\d+\.\d+\.\d+)\.jar$")


@dataclass(frozen=True)
class KafkaRuntime:
    classpath: str
    version: str
    source: str  # "maven" or "KAFKA_HOME=<path>"
    agent: str | None = None  # the JMX exporter agent's jar (None: brokers run without it)


def resolve_runtime(settings: Settings) -> KafkaRuntime:
    if settings.kafka_home is not None:
        runtime = _from_kafka_home(settings.kafka_home)
        if settings.kafka_metrics_port:  # the agent is not part of a Kafka distribution
            runtime = dataclasses.replace(runtime, agent=_maven_files()[1])
        return runtime
    return _from_maven()


def metrics_ports(settings: Settings) -> list[int]:
    """Each local node's broker metrics port (empty when the exporter is off)."""
    if not settings.kafka_metrics_port:
        return []
    return [settings.kafka_metrics_port + node_id - 1 for node_id, _, _ in settings.kafka_nodes]


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
    classpath, agent = _maven_files()
    jars = [Path(p) for p in classpath.split(":")]
    return KafkaRuntime(classpath, _version_of(jars), "maven", agent)


def _maven_files() -> tuple[str, str]:
    """The broker's classpath and the exporter agent's jar, resolved once per pom."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    cpfile = CACHE / f"kafka-classpath-{digest}.txt"
    agentfile = CACHE / f"kafka-jmx-agent-{digest}.txt"
    if not (_classpath_ok(cpfile) and _classpath_ok(agentfile)):
        _resolve_with_maven(cpfile, agentfile)
    return cpfile.read_text().strip(), agentfile.read_text().strip()


def _classpath_ok(cpfile: Path) -> bool:
    if not cpfile.exists():
        return False
    entries = cpfile.read_text().strip().split(":")
    return bool(entries) and all(Path(e).exists() for e in entries)


def _resolve_with_maven(cpfile: Path, agentfile: Path) -> None:
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
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(POM),
                "generate-resources",
                f"-Dclasspath.file={cpfile}",
                f"-Dagent.file={agentfile}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0 or not (_classpath_ok(cpfile) and _classpath_ok(agentfile)):
        cpfile.unlink(missing_ok=True)
        agentfile.unlink(missing_ok=True)
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


def node_name(node_id: int) -> str:
    """The pid, log and data name of a node: ``kafka`` for the first (as a single broker
    always was), ``kafka-2`` ... for the others."""
    return NAME if node_id == 1 else f"{NAME}-{node_id}"


def names(settings: Settings) -> list[str]:
    return [node_name(node_id) for node_id, _, _ in settings.kafka_nodes]


def render_config(settings: Settings, paths: StackPaths, node_id: int) -> Path:
    nodes = settings.kafka_nodes
    _, port, controller_port = nodes[node_id - 1]
    replicas = min(3, len(nodes))
    name = node_name(node_id)
    config = paths.run / f"{name}.properties"
    config.write_text(
        TEMPLATE.read_text().format(
            node_id=node_id,
            voters=",".join(f"{n}@127.0.0.1:{c}" for n, _, c in nodes),
            port=port,
            controller_port=controller_port,
            data_dir=paths.datadir(name),
            replicas=replicas,
            min_isr=max(1, replicas - 1),
            max_message_bytes=MAX_MESSAGE_BYTES,
        )
    )
    return config


def _format_storage(
    runtime: KafkaRuntime, config: Path, paths: StackPaths, name: str, cluster_id: str
) -> None:
    data = paths.datadir(name)
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    log = paths.log(name)
    with log.open("ab") as out:
        done = subprocess.run(
            [
                java(),
                "-cp",
                runtime.classpath,
                "kafka.tools.StorageTool",
                "format",
                # "=": a random id may start with "-", which argparse would take for an option.
                f"--cluster-id={cluster_id}",
                "-c",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        raise ServiceError(
            name,
            "formatting the KRaft storage failed",
            log=log,
            hint=f"remove {data} (loses Kafka data) and run `jobstream up` again",
        )


def _cluster(settings: Settings, paths: StackPaths) -> str:
    """The cluster's id: the one its data was formatted with, or a new one. A data folder
    formatted for another number of nodes is refused (a KRaft quorum is fixed at format)."""
    sized = paths.run / "kafka.nodes"
    first = paths.datadir(NAME) / "meta.properties"
    if first.exists():
        had = expected_nodes(paths) or 1
        if had != settings.kafka_brokers:
            raise ServiceError(
                NAME,
                f"the Kafka data was formatted for {had} node(s), not "
                f"JOBSTREAM_KAFKA_BROKERS={settings.kafka_brokers}",
                hint=f"run `jobstream up --kafka-brokers {had}`, or `jobstream down --purge` "
                "(loses the data) to start another cluster",
            )
        for line in first.read_text().splitlines():
            if line.startswith("cluster.id="):
                return line.split("=", 1)[1].strip()
    sized.write_text(str(settings.kafka_brokers))
    return _cluster_id()


def _cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def start(settings: Settings, paths: StackPaths) -> str:
    """Start every node that is not running; return a one-line description."""
    if all(process.running(paths.pidfile(n)) is not None for n in names(settings)):
        return "already running"
    host = "127.0.0.1"
    exporters = metrics_ports(settings)
    for node_id, port, controller_port in settings.kafka_nodes:
        if process.running(paths.pidfile(node_name(node_id))) is not None:
            continue
        for p in (port, controller_port, *exporters[node_id - 1 : node_id]):
            if process.port_open(host, p):
                owner = process.port_owner(p) or "another process"
                raise ServiceError(
                    node_name(node_id),
                    f"port {p} is already taken by {owner}",
                    log=paths.log(node_name(node_id)),
                    hint="stop it, or choose other ports with JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS"
                    " / JOBSTREAM_KAFKA_CONTROLLER_PORT (node i uses those + 2(i-1)) / "
                    "JOBSTREAM_KAFKA_METRICS_PORT (+ i - 1; 0 turns the exporter off)",
                )
    runtime = resolve_runtime(settings)
    cluster_id = _cluster(settings, paths)
    started = []
    for node_id, port, _ in settings.kafka_nodes:
        name = node_name(node_id)
        if process.running(paths.pidfile(name)) is not None:
            continue
        config = render_config(settings, paths, node_id)
        _format_storage(runtime, config, paths, name, cluster_id)
        started.append((name, port, _spawn(settings, runtime, config, paths, node_id)))
    (paths.run / "kafka.version").write_text(f"{runtime.version} ({runtime.source})")
    for name, port, proc in started:  # a quorum needs most nodes up: start all, then wait
        if not process.wait_until(
            functools.partial(process.port_open, host, port),
            timeout=settings.startup_timeout_s,
            alive=proc.is_running,
        ):
            log = paths.log(name)
            last = process.tail(log)
            cause = _likely_cause(last)
            for other, _, _ in started:
                process.stop(paths.pidfile(other), timeout=5)
            raise ServiceError(
                name,
                f"the broker did not start listening on {host}:{port}{cause}",
                log=log,
                hint="read the log's last lines:\n" + last,
            )
    nodes = f"{len(settings.kafka_nodes)} nodes, " if settings.kafka_brokers > 1 else ""
    return f"started ({nodes}Kafka {runtime.version}, {runtime.source})"


def _spawn(
    settings: Settings, runtime: KafkaRuntime, config: Path, paths: StackPaths, node_id: int
) -> psutil.Process:
    name = node_name(node_id)
    agent = []
    if runtime.agent is not None and settings.kafka_metrics_port:
        port = metrics_ports(settings)[node_id - 1]
        agent = [f"-javaagent:{runtime.agent}={settings.metrics_host}:{port}:{EXPORTER_CONFIG}"]
    argv = [
        java(),
        *agent,
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
    return process.spawn(argv, log=paths.log(name), pidfile=paths.pidfile(name))


def expected_nodes(paths: StackPaths) -> int | None:
    """How many nodes this stack's Kafka data was formatted for (None: no local data)."""
    sized = paths.run / "kafka.nodes"
    if not sized.exists():
        return None
    text = sized.read_text().strip()
    if not text.isdigit() or not 1 <= int(text) <= 5:
        raise ServiceError(
            NAME,
            f"{sized} should hold the cluster's node count (1-5), not {text[:20]!r}",
            hint="write the number of nodes the Kafka data was formatted for into it",
        )
    return int(text)


def cluster_wide(settings: Settings, paths: StackPaths) -> Settings:
    """``settings`` with every local node's address when this stack runs a cluster: any
    live node then answers for it, whichever node the settings name is down."""
    try:
        nodes = expected_nodes(paths) or settings.kafka_brokers
    except ServiceError:
        nodes = settings.kafka_brokers
    if nodes <= 1:
        return settings
    sized = settings.model_copy(update={"kafka_brokers": nodes})
    return sized.model_copy(update={"kafka_bootstrap_servers": sized.local_kafka_bootstrap})


def quorum(settings: Settings) -> dict[str, object] | None:
    """The KRaft controller quorum as Kafka's own tool reports it (leader, voters, the
    largest follower lag), or None when the tool or the cluster does not answer."""
    try:
        runtime = resolve_runtime(settings)
        done = subprocess.run(
            [
                java(),
                "-cp",
                runtime.classpath,
                "org.apache.kafka.tools.MetadataQuorumCommand",
                "--bootstrap-server",
                settings.kafka_bootstrap_servers,
                "describe",
                "--status",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (ServiceError, OSError, subprocess.TimeoutExpired):
        return None
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in done.stdout.splitlines())
    )
    if done.returncode != 0 or "LeaderId" not in fields:
        return None
    voters = [int(v) for v in re.findall(r'"id":\s*(\d+)', fields.get("CurrentVoters", ""))]
    return {
        "leader": int(fields["LeaderId"]),
        "voters": voters,
        "max_follower_lag": int(fields.get("MaxFollowerLag", "0") or 0),
    }


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
    """Stop every node this stack started (whatever JOBSTREAM_KAFKA_BROKERS says now)."""
    return bool(process.stop_together(sorted(paths.run.glob(f"{NAME}*.pid")), timeout=30))
