"""Helpers for the sink's tests and benches: events, a per-test topic set, a worker process.

Each test gets fresh topics and a fresh consumer group, the postings table truncated,
and runs the worker as a real subprocess (``python -m streams``) so kill -9 is real.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError

from schemas.domain import (
    EmploymentType,
    EnglishLevel,
    Location,
    Posting,
    PostingDeleted,
    RemoteMode,
    Salary,
    encode_event,
)
from schemas.settings import Settings
from schemas.topics import CONTENT_TYPE_PACK, partition_for
from tests.support.provision import free_port

ROOT = Path(__file__).resolve().parents[2]  # the repository
PYTHON = sys.executable

Event = Posting | PostingDeleted


def vector(rng: np.random.Generator, dim: int = 384) -> np.ndarray:
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def posting(
    posting_id: str,
    version: int,
    rng: np.random.Generator,
    *,
    title: str | None = None,
    dim: int = 384,
) -> Posting:
    return Posting(
        id=posting_id,
        version=version,
        title=title or f"Engineer {posting_id} v{version}",
        company="Acme",
        location=Location(city="Berlin", country_code="DE"),
        remote_mode=RemoteMode.HYBRID,
        employment_type=EmploymentType.FULL_TIME,
        experience_min_years=2,
        experience_max_years=5,
        english_level=EnglishLevel.BUSINESS,
        skills=("python", "kafka"),
        salary=Salary(min=50_000, max=70_000, currency="EUR"),
        description="Build things.",
        posted_at=datetime(2026, 11, 1, tzinfo=UTC),
        embedding=vector(rng, dim),
        embedding_model="test-random",
    )


def deleted(posting_id: str, version: int) -> PostingDeleted:
    return PostingDeleted(posting_id, version)


@dataclass
class Topics:
    """A private topic set and consumer group for one test, as worker env vars."""

    settings: Settings
    postings: str
    dead_letters: str
    invalidations: str
    group: str
    partitions: int

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "JOBSTREAM_TOPIC_POSTINGS": self.postings,
                "JOBSTREAM_TOPIC_DEAD_LETTERS": self.dead_letters,
                "JOBSTREAM_TOPIC_INVALIDATIONS": self.invalidations,
                "JOBSTREAM_CONSUMER_GROUP": self.group,
                "JOBSTREAM_SINK_RETRY_MAX_S": "1",
                # Faust reads these: a killed worker's partitions move on after 6 s.
                "BROKER_SESSION_TIMEOUT": "6",
                "BROKER_HEARTBEAT_INTERVAL": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra)
        return env


async def make_topics(settings: Settings, partitions: int = 3) -> Topics:
    tag = uuid.uuid4().hex[:8]
    topics = Topics(
        settings,
        postings=f"sink-{tag}.postings",
        dead_letters=f"sink-{tag}.dlq",
        invalidations=f"sink-{tag}.inval",
        group=f"sink-{tag}",
        partitions=partitions,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(topics.postings, partitions, 1),
                NewTopic(topics.dead_letters, 1, 1),
                NewTopic(topics.invalidations, 1, 1),
            ]
        )
    finally:
        await admin.close()
    return topics


async def reset_table(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute("TRUNCATE postings; DELETE FROM invalidation_outbox")
    finally:
        await conn.close()


async def produce(
    settings: Settings,
    topic: str,
    records: Iterable[Sequence[Any]],
) -> list[Any]:
    """Send (key, value[, headers[, partition]]) records in order, idempotently; wait for
    the acks and return their RecordMetadata (partition, offset)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    try:
        futures = []
        for item in records:
            key, value = item[0], item[1]
            headers = list(item[2]) if len(item) > 2 else []
            partition = item[3] if len(item) > 3 else None
            futures.append(
                await producer.send(topic, value, key=key, headers=headers, partition=partition)
            )
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


def encoded(events: Iterable[Posting | PostingDeleted]) -> list[tuple[bytes, bytes]]:
    return [(e.id.encode(), encode_event(e)) for e in events]


async def read_all(settings: Settings, topic: str, *, expect: int, timeout: float = 30.0) -> list:
    """Every record of a topic from the start; waits until at least ``expect`` arrived."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for rs in batch.values():
                records.extend(rs)
            if len(records) >= expect and not batch:
                break
    finally:
        await consumer.stop()
    return records


async def committed_and_end(topics: Topics) -> tuple[dict[int, int], dict[int, int]]:
    """(committed offset per partition of the group, log end per partition)."""
    s = topics.settings
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(topics.group)
    except GroupCoordinatorNotAvailableError:  # a fresh broker creates __consumer_offsets
        offsets = {}
    finally:
        await admin.close()
    committed = {  # the group also commits on operations.v1: postings only
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == topics.postings and meta.offset >= 0
    }
    consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap_servers)
    await consumer.start()
    try:
        tps = [TopicPartition(topics.postings, p) for p in range(topics.partitions)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return committed, {tp.partition: end for tp, end in ends.items()}


async def wait_caught_up(topics: Topics, *, timeout: float = 60.0) -> None:
    """Until the group's committed offsets equal the log end on every partition."""
    deadline = time.monotonic() + timeout
    committed: dict[int, int] = {}
    ends: dict[int, int] = {}
    while time.monotonic() < deadline:
        committed, ends = await committed_and_end(topics)
        if all(committed.get(p, 0) == end for p, end in ends.items()):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not caught up after {timeout}s: committed {committed}, end {ends}")


async def table(settings: Settings) -> dict[str, tuple[int, bool, str | None]]:
    """id -> (version, deleted, title) of every row."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch("SELECT id, version, deleted, title FROM postings")
    finally:
        await conn.close()
    return {r["id"]: (r["version"], r["deleted"], r["title"]) for r in rows}


class WorkerProcess:
    """``python -m streams`` (or another worker ``module``) in a subprocess with the test's
    topics, its metrics on a free port named by ``metrics_env``; logs to a file."""

    module = "streams"
    metrics_env = "JOBSTREAM_WORKER_METRICS_PORT"

    def __init__(self, topics: Topics, log_dir: Path, name: str = "worker", **env: str) -> None:
        self.topics = topics
        self.log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.metrics_port = free_port()  # several workers may run side by side
        self._env = topics.env(**{self.metrics_env: str(self.metrics_port)}, **env)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", self.module], cwd=ROOT, env=self._env, stdout=out, stderr=out
        )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(line[line.index("{") :]))
            except ValueError:
                continue
        return lines

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def expected_state(
    events: Sequence[Posting | PostingDeleted],
) -> dict[str, tuple[int, bool]]:
    """Highest version per id, the first one in log order on a tie (replays are no-ops)."""
    state: dict[str, tuple[int, bool]] = {}
    for e in events:
        current = state.get(e.id)
        if current is None or e.version > current[0]:
            state[e.id] = (e.version, e.deleted)
    return state


def metrics(port: int) -> dict[str, float]:
    """The worker's Prometheus samples as {'name{labels}': value}."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


async def wait_for(predicate: Any, *, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def history(ids: int, seed: int) -> list[Event]:
    """Several versions per posting, arriving out of order and interleaved across ids,
    with about one posting in eight deleted at some version (and maybe revived later)."""
    rng = np.random.default_rng(seed)
    events: list[Event] = []
    for i in range(ids):
        versions = list(range(1, int(rng.integers(2, 7)) + 1))
        rng.shuffle(versions)
        delete_at = int(rng.integers(1, len(versions) + 1)) if rng.random() < 0.125 else None
        for v in versions:
            pid = f"p{i:05d}"
            events.append(deleted(pid, v) if v == delete_at else posting(pid, v, rng))
    order = rng.permutation(len(events))
    return [events[k] for k in order]


def as_records(events: Sequence[Event], partitions: int, pack_every: int) -> list[tuple[Any, ...]]:
    """Single-event records, except every ``pack_every``-th run of 40 events goes as packs
    (one per partition), the way the gateway writes them."""
    records: list[tuple[Any, ...]] = []
    for start in range(0, len(events), 40):
        chunk = events[start : start + 40]
        if pack_every and (start // 40) % pack_every == 0:
            by_part: dict[int, list[bytes]] = {}
            for e in chunk:
                by_part.setdefault(partition_for(e.id, partitions), []).append(encode_event(e))
            for part, values in by_part.items():
                pack = pack_of(values)
                records.append((None, pack, [("content-type", CONTENT_TYPE_PACK.encode())], part))
        else:
            records.extend((e.id.encode(), encode_event(e)) for e in chunk)
    return records


async def produce_slowly(
    settings: Settings, topic: str, records: list[tuple[Any, ...]], seconds: float
) -> None:
    chunks = 20
    size = -(-len(records) // chunks)
    for k in range(chunks):
        await produce(settings, topic, records[k * size : (k + 1) * size])
        await asyncio.sleep(seconds / chunks)


def pack_of(members: Iterable[bytes]) -> bytes:
    """A PostingEventPack built from raw member bytes, so tests can pack poison members too."""
    return b"".join(b"\x0a" + _varint(len(m)) + m for m in members)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
