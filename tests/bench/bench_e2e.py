"""End-to-end ingest: postings/s from the producer client to rows searchable by vector.

The issue's requirement: "End-to-end postings per second for 100,000 postings (384-d
clustered vectors, never uniform random), from the producer client to rows that are
searchable through the vector index, and in the same run the raw limits: COPY into an
unindexed table, and a bare aiokafka consume loop. Target: >= 10,000 postings/s end to
end on our 2 cores."

One run, everything on this machine, on a private stack (``local_stack`` in a temporary
folder, free ports):

- data, before any clock starts: ``gateway.generator.generate(n)`` postings embedded with
  the hashing embedder (the embedding is the producer's work, not the platform's); the
  vectors' clustering is measured (nearest-neighbour cosine vs random unit vectors);
- the production processes: the gateway (``python -m gateway``, a separate
  process as in production) and ``--workers`` sink workers (``python -m streams``); the
  producer client (:class:`gateway.client.IngestClient`) runs in this process;
- a warm-up of 600 other postings proves the path and lets the group settle;
- timed from the first ``send``: (a) every posting acked by the gateway, (b) every row
  committed in PostgreSQL (``count(*)`` polled), (c) a valid IVFFlat index covering them
  that satisfies the index policy (``streams.index``). The workers check the index only
  every JOBSTREAM_VECTOR_INDEX_CHECK_S (60 s by default), so once the rows have landed this
  script calls :meth:`VectorIndexManager.check` itself -- the same code under the same
  advisory lock -- instead of waiting for the timer; ``indexed`` is therefore "landed +
  one index build", and a deployment adds up to 60 s of timer slack on top;
- search on the result: 200 queries (the role families' query phrases embedded, plus
  perturbed posting vectors), recall@10 against an exact scan and latency with the index
  at the ``probes`` recorded in ``vector_index`` (plus a small probes sweep);
- raw limits on the same data, with gateway and workers stopped: a bare aiokafka
  ``getmany`` loop over the run's records, and one binary COPY of the same rows (with
  embeddings) into an unindexed table.

Run (one benchmark at a time on a shared machine; about 3 minutes)::

    .venv/bin/python tests/bench/bench_e2e.py                      # -> results/e2e.json
    .venv/bin/python tests/bench/bench_e2e.py --format event \
        --out tests/bench/results/e2e-event.json
    .venv/bin/python tests/bench/bench_e2e.py --workers 2 --out tests/bench/results/e2e-2w.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import re
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pgvector.asyncpg import register_vector
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway.client import IngestClient  # noqa: E402
from gateway.generator import ROLE_FAMILIES, embedding_text, generate  # noqa: E402
from schemas.domain import from_json  # noqa: E402
from schemas.embedding import make_embedder  # noqa: E402
from schemas.jobstream.v1 import posting_pb2  # noqa: E402
from schemas.kafka import MAX_MESSAGE_BYTES  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from streams.index import IndexPolicy, VectorIndexManager  # noqa: E402
from streams.sink.writer import register_vector_bytes  # noqa: E402
from tests.support.bench import (  # noqa: E402
    COPY_COLUMNS,
    Child,
    copy_rows,
    git_commit,
    machine,
    percentile_ms,
    write_result,
)
from tests.support.provision import PUBLISH_TOKEN, free_port  # noqa: E402

DIM = 384
SEED = 1  # the timed postings: ids job-1-…
WARM_SEED = 2  # warm-up postings: ids job-2-…
WARM_N = 600
K = 10
QUERIES = 200
QUERY_NOISE = 0.5  # norm of the gaussian offset added to a posting vector (then normalised)
POLL_S = 0.1
PYTHON = sys.executable
DEFAULT_OUT = ROOT / "tests" / "bench" / "results" / "e2e.json"
console = Console()


# --- data ------------------------------------------------------------------------------


def make_postings(
    n: int, seed: int, embed_chunk: int = 2048
) -> tuple[list[posting_pb2.PostingEvent], np.ndarray]:
    """``n`` generated postings as wire events with hashing-embedder vectors."""
    embedder = make_embedder("hash", DIM)
    events: list[posting_pb2.PostingEvent] = []
    vectors = np.empty((n, DIM), dtype=np.float32)
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        start = len(events)
        embedded = np.asarray(embedder.embed([embedding_text(d) for d in chunk]), dtype="<f4")
        vectors[start : start + len(chunk)] = embedded
        for data, vector in zip(chunk, embedded, strict=True):
            event = from_json(data)
            event.body.embedding = vector.tobytes()
            event.body.embedding_model = embedder.name
            events.append(event)
        chunk.clear()

    for data in generate(n, seed=seed):
        chunk.append(data)
        if len(chunk) == embed_chunk:
            flush()
    if chunk:
        flush()
    return events, vectors


def nn_cosine(vectors: np.ndarray, sample: int, rng: np.random.Generator) -> dict[str, float]:
    """Nearest-neighbour cosine of ``sample`` rows against all others, and to a random row."""
    idx = rng.choice(len(vectors), size=min(sample, len(vectors)), replace=False)
    nn: list[np.ndarray] = []
    for part in np.array_split(idx, max(1, len(idx) // 250)):
        scores = vectors[part] @ vectors.T
        scores[np.arange(len(part)), part] = -np.inf  # not itself
        nn.append(scores.max(axis=1))
    best = np.concatenate(nn)
    other = rng.integers(0, len(vectors), len(idx))
    random_pair = np.einsum("ij,ij->i", vectors[idx], vectors[other])
    return {
        "nn_cosine_mean": round(float(best.mean()), 4),
        "nn_cosine_p10": round(float(np.quantile(best, 0.1)), 4),
        "nn_cosine_median": round(float(np.median(best)), 4),
        "near_duplicates_share": round(float((best >= 0.999).mean()), 4),
        "random_pair_cosine_mean": round(float(random_pair.mean()), 4),
    }


def clustering_report(vectors: np.ndarray) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    uniform = rng.normal(size=vectors.shape).astype(np.float32)
    uniform /= np.linalg.norm(uniform, axis=1, keepdims=True)
    return {
        "sample": 1000,
        "postings": nn_cosine(vectors, 1000, np.random.default_rng(8)),
        "uniform_random_same_shape": nn_cosine(uniform, 1000, np.random.default_rng(8)),
    }


def make_queries(vectors: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Family query phrases embedded, then perturbed posting vectors up to QUERIES."""
    embedder = make_embedder("hash", DIM)
    phrases = [f.query for f in ROLE_FAMILIES.values()][:QUERIES]
    phrase_vectors = np.asarray(embedder.embed(phrases), dtype=np.float32)
    rng = np.random.default_rng(11)
    picks = rng.choice(len(vectors), size=QUERIES - len(phrases), replace=False)
    noise = rng.normal(size=(len(picks), DIM)).astype(np.float32) * (QUERY_NOISE / np.sqrt(DIM))
    perturbed = vectors[picks] + noise
    perturbed /= np.linalg.norm(perturbed, axis=1, keepdims=True)
    kinds = ["family_phrase"] * len(phrases) + ["perturbed_posting"] * len(picks)
    return np.vstack([phrase_vectors, perturbed]).astype(np.float32), kinds


def batches(events: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(events[i : i + size]) for i in range(0, len(events), size)]


# --- processes -------------------------------------------------------------------------


@contextlib.contextmanager
def services(
    settings: Settings, logs: Path, fmt: str, workers: int
) -> Iterator[tuple[str, Child, list[Child]]]:
    port = free_port()
    env = {
        **os.environ,
        "JOBSTREAM_GATEWAY_PORT": str(port),
        "JOBSTREAM_GATEWAY_METRICS_PORT": "0",
        "JOBSTREAM_WORKER_METRICS_PORT": "0",
    }
    started: list[Child] = []
    try:
        gateway = Child(
            "gateway",
            [PYTHON, "-m", "gateway"],
            {**env, "JOBSTREAM_GATEWAY_RECORD_FORMAT": fmt},
            logs,
        )
        started.append(gateway)
        deadline = time.monotonic() + 60
        while True:
            if not gateway.alive():
                raise RuntimeError(f"gateway exited:\n{gateway.tail()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not listen on {port}:\n{gateway.tail()}")
            time.sleep(0.1)
        sinks = []
        for i in range(workers):
            sinks.append(Child(f"worker{i}", [PYTHON, "-m", "streams"], env, logs))
            started.append(sinks[-1])
        yield f"127.0.0.1:{port}", gateway, sinks
    finally:
        for child in reversed(started):
            child.stop()


async def group_members(settings: Settings) -> tuple[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        resp = await admin.describe_consumer_groups([settings.consumer_group])
        group = resp[0].groups[0]
        return str(group[2]), len(group[5])
    except Exception:
        return "unknown", 0
    finally:
        await admin.close()


async def end_offsets(settings: Settings) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        # ``jobstream up`` created the topic with this many partitions
        tps = [TopicPartition(settings.topic_postings, p) for p in range(settings.topic_partitions)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def count_rows(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM postings"))


# --- the timed run ----------------------------------------------------------------------


async def connect_client(
    target: str, producer_id: str, window: int, counts: dict[str, int]
) -> IngestClient:
    def on_ack(ack: Any, _tag: Any) -> None:
        counts["acked"] += len(ack.accepted_ids)
        counts["rejected"] += len(ack.rejections)

    client = IngestClient(
        target, producer_id=producer_id, token=PUBLISH_TOKEN, window=window, on_ack=on_ack
    )
    await client.connect()
    return client


async def warm_up(settings: Settings, target: str, workers: int, window: int) -> dict[str, Any]:
    events, _ = make_postings(WARM_N, WARM_SEED)
    counts = {"acked": 0, "rejected": 0}
    client = await connect_client(target, f"bench-warm-{uuid.uuid4().hex[:6]}", window, counts)
    started = time.perf_counter()
    try:
        for batch in batches(events, 200):
            await client.send(batch)
        await client.flush()
    finally:
        await client.close()
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        deadline = time.monotonic() + 120
        while await count_rows(conn) < WARM_N:
            if time.monotonic() > deadline:
                raise RuntimeError("warm-up postings never landed; see the worker logs")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    state, members = await group_members(settings)
    deadline = time.monotonic() + 60
    while (state != "Stable" or members < workers) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        state, members = await group_members(settings)
    await asyncio.sleep(1.0)  # let a last rebalance's fetches start
    return {
        "postings": WARM_N,
        "seconds": round(time.perf_counter() - started, 2),
        "group_state": state,
        "group_members": members,
    }


def policy_satisfied(rows: int, state: Any, policy: IndexPolicy) -> bool:
    if state is None:
        return rows < policy.min_rows
    growth = policy.rebuild_growth
    return rows < state.rows_at_build * growth and rows * growth > state.rows_at_build


async def timed_run(
    settings: Settings,
    target: str,
    events: list[posting_pb2.PostingEvent],
    *,
    batch: int,
    window: int,
    base_rows: int,
) -> dict[str, Any]:
    n = len(events)
    groups = batches(events, batch)
    counts = {"acked": 0, "rejected": 0}
    client = await connect_client(target, f"bench-e2e-{uuid.uuid4().hex[:6]}", window, counts)
    conn = await asyncpg.connect(settings.postgres_dsn)
    manager = VectorIndexManager(settings.postgres_dsn)
    timeline: list[tuple[float, int, int]] = []
    marks: dict[str, float] = {}
    index_checks: list[dict[str, Any]] = []
    poll_costs: list[float] = []
    progress = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    with progress:
        sent_task = progress.add_task("sent (window)", total=n)
        acked_task = progress.add_task("acked by gateway", total=n)
        landed_task = progress.add_task("rows in PostgreSQL", total=n)
        t0 = time.perf_counter()

        async def send_all() -> None:
            sent = 0
            for group in groups:
                await client.send(group)
                sent += len(group)
                progress.update(sent_task, completed=sent)
            await client.flush()
            marks["acked"] = time.perf_counter() - t0

        sender = asyncio.create_task(send_all())
        try:
            last_sample = -1.0
            while True:
                t = time.perf_counter()
                landed = await count_rows(conn) - base_rows
                poll_costs.append(time.perf_counter() - t)
                now = time.perf_counter() - t0
                progress.update(acked_task, completed=counts["acked"])
                progress.update(landed_task, completed=landed)
                if now - last_sample >= 0.5:
                    timeline.append((round(now, 2), counts["acked"], landed))
                    last_sample = now
                if sender.done():
                    sender.result()  # raise what the producer hit
                if landed >= n:
                    marks["landed"] = now
                    break
                if now > 900:
                    raise RuntimeError(f"only {landed}/{n} rows after 900 s")
                # count(*) costs PostgreSQL CPU: poll gently until the tail of the run
                await asyncio.sleep(POLL_S if counts["acked"] >= n else 2.5 * POLL_S)
            await sender
            timeline.append((round(marks["landed"], 2), counts["acked"], landed))
        finally:
            if not sender.done():
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
            await client.close()
        # (c) the index the policy wants for this many rows, valid.
        rows = base_rows + n
        state = None
        while rows >= manager.policy.min_rows:
            t = time.perf_counter()
            action = await manager.check()
            state = await manager.current(conn)
            index_checks.append({"action": action, "seconds": round(time.perf_counter() - t, 2)})
            if policy_satisfied(rows, state, manager.policy):
                marks["indexed"] = time.perf_counter() - t0
                break
            if time.perf_counter() - t0 > 1200:
                raise RuntimeError("no valid vector index after 1200 s")
            await asyncio.sleep(0.2)  # a worker's timer holds the lock: it is building
    if state is None:  # too few rows for the policy: exact scans serve (no index)
        marks["indexed"] = marks["landed"]
        index: dict[str, Any] | None = None
    else:
        valid = await conn.fetchval(
            "SELECT i.indisvalid AND i.indisready FROM pg_index i JOIN pg_class c"
            " ON c.oid = i.indexrelid WHERE c.relname = $1",
            state.name,
        )
        index = {
            "name": state.name,
            "lists": state.lists,
            "probes": state.probes,
            "rows_at_build": state.rows_at_build,
            "valid": bool(valid),
            "checks_by_bench": index_checks,
        }
    total_rows = await count_rows(conn)
    await conn.close()
    return {
        "postings": n,
        "accepted": counts["acked"],
        "rejected": counts["rejected"],
        "batch": batch,
        "window": window,
        "seconds": {k: round(v, 3) for k, v in marks.items()},
        "per_s": {k: round(n / v) for k, v in marks.items()},
        "landed_after_last_ack_s": round(marks["landed"] - marks["acked"], 3),
        "index_after_landed_s": round(marks["indexed"] - marks["landed"], 3),
        "index": index,
        "table_rows": total_rows,
        "count_poll_ms": {
            "polls": len(poll_costs),
            "mean": round(statistics.mean(poll_costs) * 1000, 2),
            "max": round(max(poll_costs) * 1000, 2),
        },
        "timeline_t_acked_landed": timeline,
    }


# --- search ------------------------------------------------------------------------------

SEARCH_SQL = "SELECT id, embedding <=> $1 AS d FROM postings ORDER BY embedding <=> $1 LIMIT 10"


async def run_queries(
    conn: asyncpg.Connection, queries: np.ndarray
) -> tuple[list[list[tuple[str, float]]], list[float]]:
    results, times = [], []
    for q in queries:
        t = time.perf_counter()
        rows = await conn.fetch(SEARCH_SQL, q)
        times.append(time.perf_counter() - t)
        results.append([(r["id"], float(r["d"])) for r in rows])
    return results, times


def recall(found: list[list[tuple[str, float]]], truth: list[list[tuple[str, float]]]) -> dict:
    by_ids, by_distance = [], []
    for got, exact in zip(found, truth, strict=True):
        by_ids.append(len({i for i, _ in got} & {i for i, _ in exact}) / K)
        kth = exact[-1][1]
        # ties: a row as close as the exact 10th counts (duplicate texts give equal vectors)
        by_distance.append(min(K, sum(1 for _, d in got if d <= kth + 1e-6)) / K)
    return {
        "ids": round(statistics.mean(by_ids), 4),
        "ties_ok": round(statistics.mean(by_distance), 4),
    }


async def search(settings: Settings, queries: np.ndarray, kinds: list[str]) -> dict[str, Any]:
    exact = await asyncpg.connect(settings.postgres_dsn)
    try:
        await register_vector(exact)
        state = await VectorIndexManager(settings.postgres_dsn).current(exact)
        await exact.execute("SET enable_indexscan = off")
        await exact.execute("SET enable_bitmapscan = off")
        plan_exact = await explain(exact, queries[0])
        truth, exact_times = await run_queries(exact, queries)
    finally:
        await exact.close()
    out: dict[str, Any] = {
        "queries": len(queries),
        "query_kinds": {k: kinds.count(k) for k in sorted(set(kinds))},
        "perturbation_noise_norm": QUERY_NOISE,
        "sql": SEARCH_SQL,
        "exact": {
            "plan": plan_exact,
            "p50_ms": percentile_ms(exact_times, 50),
            "p95_ms": percentile_ms(exact_times, 95),
        },
        "index": None,
        "by_probes": {},
    }
    if state is None:
        return out
    out["index"] = {"name": state.name, "lists": state.lists, "recorded_probes": state.probes}
    for probes in sorted({1, max(1, state.probes // 2), state.probes, state.probes * 2}):
        # a fresh connection per setting: asyncpg's cached statements ignore a later SET
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            await register_vector(conn)
            await conn.execute(f"SET ivfflat.probes = {int(probes)}")
            plan = await explain(conn, queries[0])
            await run_queries(conn, queries[:50])  # warm
            found, times = await run_queries(conn, queries)
        finally:
            await conn.close()
        per_kind = {}
        for kind in sorted(set(kinds)):
            sel = [i for i, k in enumerate(kinds) if k == kind]
            per_kind[kind] = recall([found[i] for i in sel], [truth[i] for i in sel])
        out["by_probes"][str(probes)] = {
            "uses_index": state.name in plan,
            "recall@10": recall(found, truth),
            "recall@10_by_kind": per_kind,
            "p50_ms": percentile_ms(times, 50),
            "p95_ms": percentile_ms(times, 95),
            "p99_ms": percentile_ms(times, 99),
        }
    out["at_recorded_probes"] = out["by_probes"][str(state.probes)]
    return out


async def explain(conn: asyncpg.Connection, query: np.ndarray) -> str:
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + SEARCH_SQL, query))
    return re.sub(r"'\[[^']*\]'::vector", "$1", plan)  # not the 384 numbers


# --- raw limits --------------------------------------------------------------------------


async def bare_consume(settings: Settings, start: dict[int, int], end: dict[int, int]) -> dict:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,  # as the workers
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(settings.topic_postings, p) for p in sorted(end)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp.partition, 0))
        want = sum(end[p] - start.get(p, 0) for p in end)
        records = size = 0
        remaining = {tp for tp in tps if end[tp.partition] > start.get(tp.partition, 0)}
        t = time.perf_counter()
        while remaining:
            got = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, batch in got.items():
                for record in batch:
                    if record.offset < end[tp.partition]:
                        records += 1
                        size += len(record.value or b"")
                if batch and batch[-1].offset + 1 >= end[tp.partition]:
                    remaining.discard(tp)
        seconds = time.perf_counter() - t
    finally:
        # aiokafka 0.14 without a group can re-raise the cancellation of its own
        # reset-committed task from stop(); nothing of ours is cancelled here
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    return {
        "records": records,
        "expected_records": want,
        "bytes": size,
        "seconds": round(seconds, 3),
        "records_per_s": round(records / seconds),
        "mb_per_s": round(size / seconds / 1e6, 1),
    }


async def copy_baseline(settings: Settings, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await register_vector_bytes(conn)
        await conn.execute("DROP TABLE IF EXISTS bench_e2e_copy")
        # LIKE without INCLUDING INDEXES/CONSTRAINTS: same columns, no primary key, no index
        await conn.execute("CREATE TABLE bench_e2e_copy (LIKE postings INCLUDING DEFAULTS)")
        t = time.perf_counter()
        await conn.copy_records_to_table("bench_e2e_copy", records=rows, columns=list(COPY_COLUMNS))
        seconds = time.perf_counter() - t
        landed = await conn.fetchval("SELECT count(*) FROM bench_e2e_copy")
        await conn.execute("DROP TABLE bench_e2e_copy")
    finally:
        await conn.close()
    return {"rows": landed, "seconds": round(seconds, 3), "rows_per_s": round(len(rows) / seconds)}


# --- main ----------------------------------------------------------------------------------


async def bench(
    settings: Settings, home: Path, args: argparse.Namespace, data: dict[str, Any]
) -> dict[str, Any]:
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    events: list[posting_pb2.PostingEvent] = data["events"]
    out: dict[str, Any] = {}
    with services(settings, logs, args.format, args.workers) as (target, gateway, workers):
        console.print(f"gateway {target} ({args.format}), {args.workers} worker(s); warming up")
        out["warm_up"] = await warm_up(settings, target, args.workers, args.window)
        start_offsets = await end_offsets(settings)
        conn = await asyncpg.connect(settings.postgres_dsn)
        base_rows = await count_rows(conn)
        await conn.close()
        console.print(f"warm: {out['warm_up']}; timing {len(events)} postings")
        out["e2e"] = await timed_run(
            settings, target, events, batch=args.batch, window=args.window, base_rows=base_rows
        )
        out["e2e"]["base_rows"] = base_rows
        out["processes_alive_after_run"] = {c.name: c.alive() for c in (gateway, *workers)}
        worker_index_log = [line for w in workers for line in w.grep("vector index")]
    out["worker_index_log"] = worker_index_log[-10:]
    out["exit_codes"] = {c.name: c.proc.returncode for c in (gateway, *workers)}
    end = await end_offsets(settings)
    out["kafka"] = {
        "partitions": len(end),
        "records_in_run": sum(end[p] - start_offsets.get(p, 0) for p in end),
    }
    console.print("search: 200 queries, exact vs IVFFlat")
    out["search"] = await search(settings, data["queries"], data["query_kinds"])
    console.print("raw limits: bare aiokafka getmany loop, COPY into an unindexed table")
    bare = await bare_consume(settings, start_offsets, end)
    bare["postings_per_s"] = round(len(events) / bare["seconds"])
    out["bare_consume"] = bare
    out["copy_unindexed"] = await copy_baseline(settings, data["copy_rows"])
    return out


def report(result: dict[str, Any]) -> None:
    e2e = result["e2e"]
    table = Table(title=f"end to end, {e2e['postings']} postings ({result['format']})")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("postings/s", justify="right")
    for key, label in (
        ("acked", "acked by the gateway"),
        ("landed", "rows committed in PostgreSQL"),
        ("indexed", "searchable through IVFFlat"),
    ):
        table.add_row(label, str(e2e["seconds"][key]), f"{e2e['per_s'][key]:,}")
    bare, copy = result["bare_consume"], result["copy_unindexed"]
    table.add_row(
        "raw: bare getmany loop",
        str(bare["seconds"]),
        f"{bare['postings_per_s']:,} ({bare['records_per_s']:,} records/s)",
    )
    table.add_row("raw: COPY, unindexed", str(copy["seconds"]), f"{copy['rows_per_s']:,}")
    console.print(table)
    if "at_recorded_probes" not in result["search"]:
        console.print(f"no vector index (exact p50 {result['search']['exact']['p50_ms']} ms)")
        console.print(f"ratios: {result['ratios']}")
        return
    s = result["search"]["at_recorded_probes"]
    console.print(
        f"search at probes={result['search']['index']['recorded_probes']}"
        f" (lists={result['search']['index']['lists']}): recall@10 {s['recall@10']},"
        f" p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, p99 {s['p99_ms']} ms;"
        f" exact p50 {result['search']['exact']['p50_ms']} ms"
    )
    console.print(f"ratios: {result['ratios']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--format", choices=["pack", "event"], default="pack")
    parser.add_argument("--batch", type=int, default=1000, help="postings per IngestBatch")
    parser.add_argument("--window", type=int, default=8, help="un-acked batches in flight")
    parser.add_argument(
        "--kafka-brokers", type=int, default=1, help="a local cluster of this many nodes (RF 3)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    from tests.support.provision import local_stack

    started = time.perf_counter()
    load_before = os.getloadavg()
    with console.status("generating and embedding postings (untimed)"):
        t = time.perf_counter()
        events, vectors = make_postings(args.n, SEED)
        prep_s = time.perf_counter() - t
        queries, kinds = make_queries(vectors)
        clustering = clustering_report(vectors)
        rows = copy_rows(events, DIM)
    console.print(f"{args.n} postings prepared in {prep_s:.1f} s; clustering {clustering}")
    data = {"events": events, "queries": queries, "query_kinds": kinds, "copy_rows": rows}
    with (
        tempfile.TemporaryDirectory(prefix="bench-e2e-") as home,
        local_stack(Path(home), kafka_brokers=args.kafka_brokers) as settings,
    ):
        result = asyncio.run(bench(settings, Path(home), args, data))
    load_after = os.getloadavg()
    e2e = result["e2e"]["per_s"]
    result = {
        "what": "producer client -> gateway -> Kafka -> sink worker(s) -> PostgreSQL + IVFFlat",
        "n": args.n,
        "format": args.format,
        "workers": args.workers,
        "kafka_brokers": args.kafka_brokers,
        "embedder": "hash",
        "dim": DIM,
        "data": {"prep_seconds": round(prep_s, 1), "clustering": clustering},
        **result,
        "ratios": {
            "landed_vs_copy": round(e2e["landed"] / result["copy_unindexed"]["rows_per_s"], 3),
            "indexed_vs_copy": round(e2e["indexed"] / result["copy_unindexed"]["rows_per_s"], 3),
            "landed_vs_bare_consume": round(
                e2e["landed"] / result["bare_consume"]["postings_per_s"], 3
            ),
            "indexed_vs_bare_consume": round(
                e2e["indexed"] / result["bare_consume"]["postings_per_s"], 3
            ),
        },
        "target_postings_per_s": 10_000,
        "target_met": {k: v >= 10_000 for k, v in e2e.items()},
        "machine": machine(
            loadavg_before=[round(x, 2) for x in load_before],
            loadavg_after=[round(x, 2) for x in load_after],
        ),
        "git_commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    report(result)
    write_result(args.out, result, console.print)


if __name__ == "__main__":
    main()
