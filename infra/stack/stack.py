"""`up`, `down` and `status` over the three services, in dependency order."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import ModuleType as KafkaRunner

from infra.stack import apps, kafka, kafka_docker, postgres, process, redis
from infra.stack.errors import ServiceError
from infra.stack.kafka import quorum
from infra.stack.paths import StackPaths
from infra.stack.topics import cluster as describe_cluster
from infra.stack.topics import describe as describe_topics
from infra.stack.topics import ensure_topics
from schemas.redaction import redact
from schemas.settings import Settings

Report = Callable[[str, str], None]


def up(
    settings: Settings,
    report: Report,
    *,
    workers: int = 0,
    alerts_workers: int = 1,
    gateways: int = 1,
    api_instances: int = 1,
) -> None:
    """Start the services; with workers > 0 also ``gateways`` gateways, that many
    workers, ``alerts_workers`` alerts workers and ``api_instances`` API instances, each
    on its own ports."""
    paths = StackPaths.create(settings.home)
    report("kafka", _kafka_module(settings).start(settings, paths))
    created = asyncio.run(ensure_topics(settings, timeout=settings.startup_timeout_s))
    report("topics", f"created {', '.join(created)}" if created else "all present")
    report("postgres", postgres.start(settings, paths))
    report("redis", redis.start(settings, paths))
    if workers > 0:
        report("gateway", apps.start_gateways(settings, paths, gateways))
        report("workers", apps.start_workers(settings, paths, workers))
        if alerts_workers > 0:
            report("alerts", apps.start_alerts_workers(settings, paths, alerts_workers))
        report("delivery", apps.start_delivery(settings, paths))
        report("api", apps.start_apis(settings, paths, api_instances))


def _kafka_module(settings: Settings) -> KafkaRunner:
    """The broker runtime: Docker when asked or (auto) when an engine answers."""
    if settings.kafka_runtime == "docker" or (
        settings.kafka_runtime == "auto"
        and settings.kafka_home is None
        and kafka_docker.engine_available()
    ):
        return kafka_docker
    return kafka


def down(settings: Settings, report: Report, *, purge: bool = False) -> None:
    paths = StackPaths.create(settings.home)
    # Reverse order: nothing that depends on Kafka outlives it.
    stopped_apps = apps.stop_all(paths)
    if stopped_apps:
        report("apps", f"stopped {', '.join(stopped_apps)}")
    report("redis", "stopped" if redis.stop(settings, paths) else "not running")
    report("postgres", "stopped" if postgres.stop(settings, paths) else "not running")
    stopped = kafka.stop(paths)
    if kafka_docker.engine_available():
        stopped = kafka_docker.stop(settings) or stopped
    report("kafka", "stopped" if stopped else "not running")
    if purge:
        shutil.rmtree(paths.data, ignore_errors=True)
        shutil.rmtree(paths.logs, ignore_errors=True)
        report("data", f"removed {paths.data}")


@dataclass
class ServiceStatus:
    name: str
    healthy: bool
    address: str
    detail: str
    pid: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


def status(settings: Settings) -> list[ServiceStatus]:
    """Each service's health; addresses and details never carry a password."""
    paths = StackPaths.create(settings.home)
    settings = kafka.cluster_wide(settings, paths)
    kafka_status = _kafka_status(settings, paths)
    reachable = not kafka_status.detail.startswith("unreachable")
    return [
        kafka_status,
        _postgres_status(settings, paths),
        _redis_status(settings, paths),
        *_app_statuses(settings, paths),
        *(_group_statuses(settings) if reachable else []),
        _embedding_status(settings, paths),
    ]


def _embedding_status(settings: Settings, paths: StackPaths) -> ServiceStatus:
    """Which model these settings embed with, which one the running API serves (its
    /health), and how many live postings carry each model: semantic search only compares
    a query with postings of the API's model, the others are found by their words."""
    from schemas.db.embedding_models import postings_by_model
    from schemas.embedding import ModelUnavailableError, make_embedder

    try:
        configured = make_embedder(settings.embedder, settings.embedding_dim).name  # lazy
    except (ModelUnavailableError, ValueError) as exc:
        configured = f"unavailable: {exc}"
    serving = _api_model(settings) if process.running(paths.pidfile(apps.API)) else None
    counts: dict[str, int] | None = None
    try:
        counts = asyncio.run(postgres.query(settings, postings_by_model))
    except Exception as exc:
        found = f"unknown ({redact(str(exc))})"
    else:
        found = ", ".join(f"{m} {n:,}" for m, n in counts.items()) or "none"
        other = sum(n for m, n in counts.items() if m != (serving or configured))
        if other:
            found += f" ({other:,} of another model: found by their words only)"
    detail = configured + (f"; API serves {serving}" if serving not in (None, configured) else "")
    detail += f"; live postings: {found}"
    extra: dict[str, object] = {
        "embedder": settings.embedder,
        "model": configured,
        "api_model": serving,
        "postings_by_model": counts,
    }
    return ServiceStatus("embedding", True, settings.embedder, detail, extra=extra)


def _api_model(settings: Settings) -> str | None:
    """The model the running API embeds queries with, from its /health (None if silent)."""
    import json
    import urllib.request

    url = f"http://{settings.api_host}:{settings.api_port}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            body = json.loads(response.read())
    except Exception:
        return None
    model = body.get("embedding", {}).get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def _group_statuses(settings: Settings) -> list[ServiceStatus]:
    """The sink's consumer group: its state, then one row per member with its partitions
    (absent when Kafka does not answer -- the kafka row says so)."""
    from streams.ops.errors import OpsError
    from streams.ops.group import describe_group

    try:
        group = asyncio.run(asyncio.wait_for(describe_group(settings), 10))
    except (OpsError, OSError, TimeoutError):
        return []
    topic = settings.topic_postings
    owned = sorted(p for m in group.members for p in m.partitions.get(topic, ()))
    rows = [
        ServiceStatus(
            "group",
            True,
            group.group,
            f"{group.state}, {len(group.members)} member(s), "
            f"{len(owned)}/{settings.topic_partitions} partitions of {topic} assigned",
            extra=group.to_json(),
        )
    ]
    for m in group.members:
        parts = m.partitions.get(topic, [])
        rows.append(
            ServiceStatus(
                "member",
                True,
                m.host.lstrip("/"),
                f"member {m.short_id}: partitions {', '.join(map(str, parts)) or 'none'} "
                f"({m.client_id})",
                extra=m.to_json(),
            )
        )
    return rows


def _app_statuses(settings: Settings, paths: StackPaths) -> list[ServiceStatus]:
    """The gateway and workers `up --workers` started (absent when none were)."""
    found = []
    for pidfile in sorted(paths.run.glob("*.pid")):
        name = pidfile.stem
        service, _, index = name.partition("-")
        if name != apps.DELIVERY and service not in (apps.GATEWAY, apps.API, "worker", apps.ALERTS):
            continue
        offset = int(index) - 1 if index.isdigit() and service in (apps.GATEWAY, apps.API) else 0
        proc = process.running(pidfile)
        address = {
            apps.GATEWAY: f"{settings.gateway_host}:{settings.gateway_port + offset}",
            apps.API: f"http://{settings.api_host}:{settings.api_port + offset}/graphql",
            apps.DELIVERY: f"{settings.webhook_consumer_group}, {settings.email_consumer_group}",
        }.get(
            service if service in (apps.GATEWAY, apps.API) else name,
            settings.alerts_consumer_group
            if name.startswith(f"{apps.ALERTS}-")
            else settings.consumer_group,
        )
        detail = f"log {paths.log(name)}" if proc else "exited: see its log, then `jobstream up`"
        found.append(
            ServiceStatus(name, proc is not None, address, detail, proc.pid if proc else None)
        )
    return found


def _pid(paths: StackPaths, name: str) -> int | None:
    proc = process.running(paths.pidfile(name))
    return proc.pid if proc else None


def _kafka_status(settings: Settings, paths: StackPaths) -> ServiceStatus:
    """Brokers, the controller quorum (with several nodes), and per topic its partitions,
    messages and replication: under-replicated or offline partitions make it unhealthy."""
    address = settings.kafka_bootstrap_servers
    try:
        topics = asyncio.run(describe_topics(settings, timeout=5))
        nodes = asyncio.run(describe_cluster(settings, timeout=5))
    except Exception as exc:
        return ServiceStatus("kafka", False, address, f"unreachable: {exc}", _pid(paths, "kafka"))
    found = quorum(settings) if len(nodes.brokers) > 1 else None
    lagging = sum(t.under_replicated for t in topics)
    offline = sum(t.offline for t in topics)
    replicas = sorted({t.replicas for t in topics})
    try:
        expected = kafka.expected_nodes(paths) or len(nodes.brokers)
    except ServiceError:  # a damaged count file: `up` names it; status shows what answers
        expected = len(nodes.brokers)
    missing = max(0, expected - len(nodes.brokers))
    brokers = f"{len(nodes.brokers)} of {expected} brokers" if missing else f"{expected} broker(s)"
    parts = [f"Kafka {kafka.version(paths)}", brokers]
    if found is not None:
        parts.append(f"quorum leader {found['leader']} of voters {found['voters']}")
    if replicas == [1]:
        parts.append("topics have 1 replica (a lost disk loses them: `up --kafka-brokers 3`)")
    else:
        parts.append(f"replicas per topic {replicas}")
    if lagging or offline:
        parts.append(f"{lagging} under-replicated, {offline} offline partition(s)")
    parts.append(
        ", ".join(f"{t.name} ({t.partitions} partitions, {t.messages} messages)" for t in topics)
    )
    detail = "; ".join(parts)
    names = {t.name for t in topics}
    healthy = all(t in names for t in settings.topics) and not (lagging or offline or missing)
    if not all(t in names for t in settings.topics):
        detail += "; missing topics: run `jobstream up`"
    return ServiceStatus(
        "kafka",
        healthy,
        address,
        detail,
        _pid(paths, "kafka"),
        {
            "version": kafka.version(paths),
            "brokers": nodes.brokers,
            "quorum": found,
            "under_replicated_partitions": lagging,
            "offline_partitions": offline,
            "topics": [asdict(t) for t in topics],
        },
    )


def _postgres_status(settings: Settings, paths: StackPaths) -> ServiceStatus:
    address = redact(settings.postgres_dsn)
    try:
        server, vector = asyncio.run(postgres.describe(settings))
    except Exception as exc:
        return ServiceStatus(
            "postgres", False, address, f"unreachable: {redact(str(exc))}", _pid(paths, "postgres")
        )
    detail = f"PostgreSQL {server}; pgvector {vector or 'NOT INSTALLED: run `jobstream up`'}"
    return ServiceStatus(
        "postgres",
        vector is not None,
        address,
        detail,
        _pid(paths, "postgres"),
        {"version": server, "vector": vector},
    )


def _redis_status(settings: Settings, paths: StackPaths) -> ServiceStatus:
    address = redact(settings.redis_dsn)
    try:
        detail = redis.describe(settings)
    except Exception as exc:
        detail = f"unreachable: {redact(str(exc))}"
        return ServiceStatus("redis", False, address, detail, _pid(paths, "redis"))
    return ServiceStatus("redis", True, address, detail, _pid(paths, "redis"))


__all__ = ["ServiceError", "ServiceStatus", "down", "status", "up"]
