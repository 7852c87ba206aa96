"""Reprocessing after an offset reset, and how fast a new worker takes its partitions.

On a private stack (temporary folder, free ports): N generated postings (hashing-embedder
vectors, embedded before any clock starts) are produced as the gateway packs them into a
fresh 6-partition topic; one worker ingests them (the initial load, timed too). Then:

1. **reprocess**: the worker is stopped, ``reset_offsets(--to-earliest, execute)`` (the code
   behind ``jobstream offsets reset``) rewinds the group, and 1 (then 2) workers process
   the whole log again -- every event is an equal version, so nothing changes in the table
   (checked). Timed from the first commit after the reset to "committed == log end"
   (postings/s), and from the worker's start.
2. **bare read**: in the same run, a bare aiokafka ``getmany`` loop over the same topic,
   counting postings (pack members): the ceiling a consumer could reach.
3. **scale-out**: with one worker running and a trickle of new records, a second worker
   starts; timed from its spawn to the group being Stable with both members owning
   partitions (rebalance done), and to its first processed record (its metrics).

Writes tests/bench/results/reprocess.json.
Run: ``.venv/bin/python tests/bench/bench_reprocess.py [--postings 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway.generator import embedding_text, generate  # noqa: E402
from schemas.domain import from_json  # noqa: E402
from schemas.embedding import make_embedder  # noqa: E402
from schemas.kafka import MAX_MESSAGE_BYTES  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.topics import CONTENT_TYPE_PACK, partition_for  # noqa: E402
from streams.ops.errors import OpsError  # noqa: E402
from streams.ops.group import describe_group  # noqa: E402
from streams.ops.offsets import ResetSpec, reset_offsets  # noqa: E402
from streams.sink.records import Record, event_count  # noqa: E402
from tests.support.bench import machine, write_result  # noqa: E402
from tests.support.ops import committed_and_end, ops_settings  # noqa: E402
from tests.support.sink import (  # noqa: E402
    Topics,
    WorkerProcess,
    make_topics,
    pack_of,
    produce,
    reset_table,
)

PARTITIONS = 6
DIM = 384
PACK_MAX_BYTES = 512 * 1024
RESULTS = ROOT / "tests" / "bench" / "results" / "reprocess.json"


def make_records(n: int, seed: int = 1) -> list[tuple[Any, ...]]:
    """``n`` generated postings packed like the gateway: per 2000-posting batch, one pack
    (<= 512 KB) per partition."""
    embedder = make_embedder("hash", DIM)
    records: list[tuple[Any, ...]] = []
    headers = [("content-type", CONTENT_TYPE_PACK.encode())]
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        vectors = np.asarray(embedder.embed([embedding_text(d) for d in batch]), dtype="<f4")
        by_part: dict[int, list[bytes]] = {}
        for data, vector in zip(batch, vectors, strict=True):
            event = from_json(data)
            event.body.embedding = vector.tobytes()
            event.body.embedding_model = embedder.name
            by_part.setdefault(partition_for(event.id, PARTITIONS), []).append(
                event.SerializeToString()
            )
        for part, values in by_part.items():
            group: list[bytes] = []
            size = 0
            for v in [*values, None]:
                if v is None or (group and size + len(v) > PACK_MAX_BYTES):
                    records.append((None, pack_of(group), headers, part))
                    group, size = [], 0
                if v is not None:
                    group.append(v)
                    size += len(v) + 4
        batch.clear()

    for data in generate(n, seed=seed):
        batch.append(data)
        if len(batch) == 2000:
            flush()
    if batch:
        flush()
    return records


async def wait_done(topics: Topics, total: int) -> tuple[float, int, float]:
    """Until committed == log end; (time of the first commit, records done then, end)."""
    first: tuple[float, int] | None = None
    while True:
        try:
            committed, _ = await committed_and_end(topics)
        except OpsError:  # the group is unknown until the worker joins
            committed = {}
        done = sum(committed.values())
        now = time.perf_counter()
        if first is None and done > 0:
            first = (now, done)
        if done >= total:
            assert first is not None
            return first[0], first[1], now
        await asyncio.sleep(0.05)


async def table_digest(settings: Settings) -> tuple[int, int, str]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*) AS n, sum(version) AS v, "
            "md5(string_agg(id || ':' || version || ':' || updated_at::text, ','"
            " ORDER BY id)) AS h "
            "FROM postings"
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), int(row["v"] or 0), str(row["h"])


async def run_workers(
    topics: Topics, logs: Path, count: int, records: int, postings: int, tag: str
) -> tuple[dict[str, Any], list[WorkerProcess]]:
    spawned = time.perf_counter()
    workers = [WorkerProcess(topics, logs, f"{tag}{i}").start() for i in range(count)]
    first, done_then, end = await wait_done(topics, records)
    share = 1 - done_then / records  # the share of the work inside the timed stretch
    seconds = end - first
    return {
        "workers": count,
        "seconds_from_first_commit": round(seconds, 2),
        "seconds_from_spawn": round(end - spawned, 2),
        "postings_per_s": round(postings * share / seconds) if seconds else None,
    }, workers


async def bare_read(settings: Settings, topic: str) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        total = sum(ends.values())
        seen = postings = 0
        started = time.perf_counter()
        while seen < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for rs in batch.values():
                for r in rs:
                    seen += 1
                    postings += event_count(
                        Record(r.topic, r.partition, r.offset, r.key, r.value, tuple(r.headers))
                    )
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {"records": seen, "postings": postings, "seconds": round(seconds, 2),
            "postings_per_s": round(postings / seconds)}  # fmt: skip


def consumed(worker: WorkerProcess) -> float:
    try:
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{worker.metrics_port}/metrics", timeout=2)
            .read()
            .decode()
        )
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith("jobstream_sink_events_consumed_total "):
            return float(line.split()[-1])
    return 0.0


async def scale_out(settings: Settings, topics: Topics, logs: Path) -> dict[str, Any]:
    """One worker caught up; a trickle of records; a second worker joins."""
    ops = ops_settings(topics)
    first = WorkerProcess(topics, logs, "resident").start()
    extra = make_records(600, seed=99)
    stop = asyncio.Event()

    async def trickle() -> None:
        i = 0
        while not stop.is_set():
            await produce(settings, topics.postings, [extra[i % len(extra)]])
            i += 1
            await asyncio.sleep(0.02)

    try:
        await wait_done(topics, sum((await committed_and_end(topics))[1].values()))
        await wait_until(lambda: _stable(ops, 1), 60)
        feeding = asyncio.create_task(trickle())
        await asyncio.sleep(1.0)
        resident = {m.member_id for m in (await describe_group(ops)).members}
        spawned = time.perf_counter()
        second = WorkerProcess(topics, logs, "joiner").start()
        rebalanced = first_record = None
        deadline = spawned + 120
        while (rebalanced is None or first_record is None) and time.perf_counter() < deadline:
            now = time.perf_counter()
            if rebalanced is None and await _stable(ops, 2):
                rebalanced = now - spawned
            if first_record is None and consumed(second) > 0:
                first_record = now - spawned
            await asyncio.sleep(0.05)
        # Failover: kill -9 the joiner; the resident must notice (session timeout) and
        # take its partitions back.
        group = await describe_group(ops)
        theirs = {
            p
            for m in group.members
            if m.member_id not in resident
            for p in m.partitions.get(topics.postings, [])
        }
        before, _ = await committed_and_end(topics)
        second.kill9()
        killed = time.perf_counter()
        taken = resumed = None
        while (taken is None or resumed is None) and time.perf_counter() < killed + 120:
            now = time.perf_counter()
            if taken is None and await _stable(ops, 1):
                taken = now - killed
            if resumed is None:
                committed, _ = await committed_and_end(topics)
                if any(committed.get(p, 0) > before.get(p, 0) for p in theirs):
                    resumed = now - killed
            await asyncio.sleep(0.05)
        stop.set()
        await feeding
    finally:
        stop.set()
        first.terminate()
    return {
        "spawn_to_rebalance_done_s": round(rebalanced, 2) if rebalanced else None,
        "spawn_to_first_record_processed_s": round(first_record, 2) if first_record else None,
        "kill9_to_partitions_taken_back_s": round(taken, 2) if taken else None,
        "kill9_to_their_first_record_processed_s": round(resumed, 2) if resumed else None,
        "partitions_moved": sorted(theirs),
        "note": "joins from process spawn (Python + Faust start-up included) with the "
        "resident worker busy on a trickle of records; failover is bounded by the session "
        "timeout, 6 s here (BROKER_SESSION_TIMEOUT in the test env; the app's default is 10 s)",
    }


async def _stable(settings: Settings, members: int) -> bool:
    g = await describe_group(settings)
    return (
        g.state == "Stable"
        and len(g.members) == members
        and all(m.partitions.get(settings.topic_postings) for m in g.members)
    )


async def wait_until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise TimeoutError


async def bench(settings: Settings, logs: Path, n: int, worker_counts: list[int]) -> dict[str, Any]:
    t0 = time.perf_counter()
    records = make_records(n)
    out: dict[str, Any] = {
        "postings": n,
        "records": len(records),
        "partitions": PARTITIONS,
        "embedder": "hash",
        "generate_s": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    }
    print(f"generated {n} postings in {len(records)} packs", flush=True)
    await reset_table(settings)
    topics = await make_topics(settings, partitions=PARTITIONS)
    ops = ops_settings(topics)
    await produce(settings, topics.postings, records)
    total = len(records)

    initial, workers = await run_workers(topics, logs, 1, total, n, "load")
    for w in workers:
        w.terminate()
    out["initial_load"] = initial
    print("initial load", initial, flush=True)
    digest = await table_digest(settings)
    assert digest[0] == n, digest

    out["reprocess"] = []
    for count in worker_counts:
        await wait_until(lambda: _empty(ops), 60)
        plan = await reset_offsets(
            ops, group=topics.group, spec=ResetSpec("earliest"), execute=True
        )
        assert plan.records_to_reprocess == total
        result, workers = await run_workers(topics, logs, count, total, n, f"re{count}-")
        for w in workers:
            w.terminate()
        result["table_unchanged"] = await table_digest(settings) == digest
        out["reprocess"].append(result)
        print("reprocess", result, flush=True)

    out["bare_aiokafka_read"] = await bare_read(settings, topics.postings)
    print("bare read", out["bare_aiokafka_read"], flush=True)
    await wait_until(lambda: _empty(ops), 60)
    out["scale_out"] = await scale_out(settings, topics, logs)
    print("scale out", out["scale_out"], flush=True)
    return out


async def _empty(settings: Settings) -> bool:
    return not (await describe_group(settings)).members


def main() -> None:
    from tests.support.provision import local_stack

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2", help="worker counts for the reprocess runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="bench-reprocess-") as home,
        local_stack(Path(home)) as settings,
    ):
        logs = Path(home) / "worker-logs"
        logs.mkdir()
        out = asyncio.run(bench(settings, logs, args.postings, counts))
    write_result(args.out, out)


if __name__ == "__main__":
    main()
