"""Sink throughput: events/s from postings.v1 to PostgreSQL, measured end to end.

Pre-produces EVENTS posting events (new postings, 10% of them updated once more) to a
fresh 6-partition topic, then starts ``python -m streams`` worker processes on it and
times the stretch from the first committed offset to "committed offsets == log end"
(start-up and group join excluded). Runs on a private stack in a temporary folder (it
truncates the postings table). Cases:

- ``event``: one Kafka record per event (what a plain producer writes);
- ``pack``: the gateway's layout, PostingEventPack records of up to 512 KB per partition;
- each with 1 worker and with 2 workers (this machine has 2 cores), and ``pack`` once more
  with an IVFFlat index (lists=100) present on postings.embedding.

Writes tests/bench/results/ingest.json. Run: ``.venv/bin/python tests/bench/bench_ingest.py``
(about 3 minutes).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from schemas.domain import encode_event  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.topics import CONTENT_TYPE_PACK, partition_for  # noqa: E402
from tests.support.bench import machine, write_result  # noqa: E402
from tests.support.sink import (  # noqa: E402
    WorkerProcess,
    make_topics,
    pack_of,
    posting,
    produce,
    reset_table,
)

EVENTS = int(os.environ.get("BENCH_EVENTS", 60_000))
PARTITIONS = 6
PACK_MAX_BYTES = 512 * 1024
RESULTS = ROOT / "tests" / "bench" / "results" / "ingest.json"


def make_events(n: int) -> list[Any]:
    rng = np.random.default_rng(3)
    fresh = int(n / 1.1)
    events = [posting(f"b{i:07d}", 1, rng) for i in range(fresh)]
    events += [posting(f"b{i:07d}", 2, rng) for i in rng.choice(fresh, n - fresh, replace=False)]
    return events


def as_records(events: list[Any], fmt: str) -> list[tuple[Any, ...]]:
    if fmt == "event":
        return [(e.id.encode(), encode_event(e)) for e in events]
    headers = [("content-type", CONTENT_TYPE_PACK.encode())]
    records: list[tuple[Any, ...]] = []
    for start in range(0, len(events), 2000):  # like gateway ingest batches of 2000
        by_part: dict[int, list[bytes]] = {}
        for e in events[start : start + 2000]:
            by_part.setdefault(partition_for(e.id, PARTITIONS), []).append(encode_event(e))
        for part, values in by_part.items():
            group: list[bytes] = []
            size = 0
            for v in [*values, None]:
                if v is None or (group and size + len(v) > PACK_MAX_BYTES):
                    pack = pack_of(group)
                    records.append((None, pack, headers, part))
                    group, size = [], 0
                if v is not None:
                    group.append(v)
                    size += len(v) + 4
    return records


async def run_case(
    settings: Settings, records: list[tuple[Any, ...]], workers: int, logs: Path, *, ivfflat: bool
) -> dict[str, Any]:
    await reset_table(settings)
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute("DROP INDEX IF EXISTS bench_ingest_ivf")
        if ivfflat:
            await conn.execute(
                "CREATE INDEX bench_ingest_ivf ON postings"
                " USING ivfflat (embedding vector_cosine_ops) WITH (lists = 100)"
            )
    finally:
        await conn.close()
    topics = await make_topics(settings, partitions=PARTITIONS)
    await produce(settings, topics.postings, records)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    await consumer.start()
    tps = [TopicPartition(topics.postings, p) for p in range(PARTITIONS)]
    ends = await consumer.end_offsets(tps)
    total = sum(ends.values())
    for _ in range(200):  # a fresh broker creates __consumer_offsets on first use
        try:
            await admin.list_consumer_group_offsets(topics.group)
            break
        except GroupCoordinatorNotAvailableError:
            await asyncio.sleep(0.1)
    procs = [WorkerProcess(topics, logs, f"w{i}").start() for i in range(workers)]
    try:
        first = None
        while True:
            try:
                offsets = await admin.list_consumer_group_offsets(topics.group)
            except GroupCoordinatorNotAvailableError:
                offsets = {}
            done = sum(max(0, m.offset) for m in offsets.values())
            now = time.perf_counter()
            if first is None and done > 0:
                first = (now, done)
            if done == total:
                break
            await asyncio.sleep(0.02)
        assert first is not None
        seconds = now - first[0]
    finally:
        await admin.close()
        await consumer.stop()
        for p in procs:
            p.terminate()
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetchval("SELECT count(*) FROM postings")
        await conn.execute("DROP INDEX IF EXISTS bench_ingest_ivf")
    finally:
        await conn.close()
    timed = 1 - first[1] / total  # share of the work done inside the timed stretch
    return {"records": len(records), "rows": rows, "seconds": round(seconds, 2), "timed": timed}


async def bench(settings: Settings, logs: Path) -> dict[str, Any]:
    events = make_events(EVENTS)
    out: dict[str, Any] = {"events": len(events), "partitions": PARTITIONS, "cases": {}}
    for fmt, workers, ivf in (
        ("event", 1, False),
        ("event", 2, False),
        ("pack", 1, False),
        ("pack", 2, False),
        ("pack", 1, True),
    ):
        records = as_records(events, fmt)
        result = await run_case(settings, records, workers, logs, ivfflat=ivf)
        # Timed from the first commit: the work before it is not counted.
        timed = result.pop("timed")
        result["events_per_s"] = round(len(events) * timed / result["seconds"])
        name = f"{fmt}-{workers}w" + ("-ivfflat" if ivf else "")
        out["cases"][name] = result
        print(name, result, flush=True)
    out["machine"] = machine()
    return out


def main() -> None:
    from tests.support.provision import local_stack

    with (
        tempfile.TemporaryDirectory(prefix="bench-ingest-") as home,
        local_stack(Path(home)) as settings,
    ):
        logs = Path(home) / "worker-logs"
        logs.mkdir()
        out = asyncio.run(bench(settings, logs))
    write_result(RESULTS, out)


if __name__ == "__main__":
    main()
