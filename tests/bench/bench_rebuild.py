"""Rebuild speed: ``jobstream rebuild`` over N postings, against COPY into an unindexed
table of the same rows in the same run.

The issue's requirement: "Rebuild speed for 100,000 and 1,000,000 postings (postings/s,
with the share spent loading and indexing) against COPY into an unindexed table in the
same run."

One run per N, on a private stack (``local_stack`` in a temporary folder, free ports):

- data, before any clock starts: ``gateway.generator.generate(n)`` postings embedded with
  the hashing embedder (clustered, never uniform random), produced straight to
  postings.v1 as gateway-style packs (one ``PostingEventPack`` per partition per chunk)
  with aiokafka; in the same pass the same rows are COPYed (binary, with embeddings) into
  an unindexed table, timed on the COPY calls only -- the raw limit;
- the rebuild runs in this process (:func:`streams.rebuild.run.rebuild`, what the CLI
  calls) while a light live stream (``--live-rate`` postings/s, new ids) keeps writing, so
  the catch-up phase has work; no sink worker runs (the old table stays empty -- the
  rebuild does not read it);
- reported: postings/s end to end (events read / total seconds), the seconds and share of
  loading, indexing, catching up and the swap, the load phase's own rate, and COPY's.

Run (one benchmark at a time on a shared machine)::

    .venv/bin/python tests/bench/bench_rebuild.py --n 100000           # ~3 min
    .venv/bin/python tests/bench/bench_rebuild.py --n 1000000          # ~20 min
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from aiokafka import AIOKafkaProducer
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway.generator import embedding_text, generate  # noqa: E402
from schemas.domain import from_json  # noqa: E402
from schemas.embedding import make_embedder  # noqa: E402
from schemas.jobstream.v1 import posting_pb2  # noqa: E402
from schemas.kafka import MAX_MESSAGE_BYTES  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.topics import CONTENT_TYPE_PACK, partition_for  # noqa: E402
from streams.rebuild.run import rebuild  # noqa: E402
from streams.sink.writer import register_vector_bytes  # noqa: E402
from tests.support.bench import (  # noqa: E402
    COPY_COLUMNS,
    copy_rows,
    git_commit,
    machine,
    write_result,
)
from tests.support.provision import local_stack  # noqa: E402

DIM = 384
CHUNK = 5000
PACK_MAX = 250  # events per pack: ~430 KB, under the broker's 1 MB default
OUT = ROOT / "tests" / "bench" / "results" / "rebuild.json"
console = Console()


def events_for(batch: list[dict[str, Any]], embedder: Any) -> list[posting_pb2.PostingEvent]:
    vectors = np.asarray(embedder.embed([embedding_text(d) for d in batch]), dtype="<f4")
    out = []
    for data, vector in zip(batch, vectors, strict=True):
        event = from_json(data)
        event.body.embedding = vector.tobytes()
        event.body.embedding_model = embedder.name
        out.append(event)
    return out


async def send_packs(
    producer: AIOKafkaProducer, settings: Settings, events: list[posting_pb2.PostingEvent]
) -> int:
    by_partition: dict[int, list[posting_pb2.PostingEvent]] = {}
    for event in events:
        p = partition_for(event.id, settings.topic_partitions)
        by_partition.setdefault(p, []).append(event)
    futures = []
    for partition, members in by_partition.items():
        for i in range(0, len(members), PACK_MAX):
            pack = posting_pb2.PostingEventPack()
            pack.events.extend(members[i : i + PACK_MAX])
            futures.append(
                await producer.send(
                    settings.topic_postings,
                    pack.SerializeToString(),
                    partition=partition,
                    headers=[("content-type", CONTENT_TYPE_PACK.encode())],
                )
            )
    await asyncio.gather(*futures)
    return len(futures)


def producer_for(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=MAX_MESSAGE_BYTES,
    )


async def load_data(settings: Settings, n: int) -> dict[str, Any]:
    """Produce n postings as packs and COPY the same rows into an unindexed table."""
    embedder = make_embedder("hash", DIM)
    producer = producer_for(settings)
    await producer.start()
    conn = await asyncpg.connect(settings.postgres_dsn)
    await register_vector_bytes(conn)
    await conn.execute("DROP TABLE IF EXISTS bench_rebuild_copy")
    await conn.execute("CREATE TABLE bench_rebuild_copy (LIKE postings INCLUDING DEFAULTS)")
    copy_s = 0.0
    records = 0
    started = time.perf_counter()
    try:
        batch: list[dict[str, Any]] = []
        done = 0
        for data in generate(n, seed=1):
            batch.append(data)
            if len(batch) == CHUNK:
                records, copy_s = await _chunk(
                    settings, producer, conn, batch, embedder, records, copy_s
                )
                done += len(batch)
                batch = []
                if done % 100_000 == 0:
                    console.print(
                        f"  produced {done:,} postings ({time.perf_counter() - started:.0f} s)"
                    )
        if batch:
            records, copy_s = await _chunk(
                settings, producer, conn, batch, embedder, records, copy_s
            )
        copied = int(await conn.fetchval("SELECT count(*) FROM bench_rebuild_copy"))
        await conn.execute("DROP TABLE bench_rebuild_copy")
    finally:
        await conn.close()
        await producer.stop()
    return {
        "kafka_records": records,
        "prepare_seconds": round(time.perf_counter() - started, 1),
        "copy_unindexed": {
            "rows": copied,
            "seconds": round(copy_s, 3),
            "rows_per_s": round(copied / copy_s) if copy_s else None,
        },
    }


async def _chunk(
    settings: Settings,
    producer: AIOKafkaProducer,
    conn: asyncpg.Connection,
    batch: list[dict[str, Any]],
    embedder: Any,
    records: int,
    copy_s: float,
) -> tuple[int, float]:
    events = events_for(batch, embedder)
    records += await send_packs(producer, settings, events)
    rows = copy_rows(events, DIM)
    t = time.perf_counter()
    await conn.copy_records_to_table("bench_rebuild_copy", records=rows, columns=list(COPY_COLUMNS))
    return records, copy_s + (time.perf_counter() - t)


def live_events(n: int, rate: int) -> list[list[posting_pb2.PostingEvent]]:
    """The live stream's postings (new ids), embedded before any clock starts, in
    batches of a tenth of a second."""
    if rate <= 0:
        return []
    embedder = make_embedder("hash", DIM)
    total = min(n // 5, rate * 300)
    step = max(1, rate // 10)
    source = list(generate(total, seed=2))
    return [events_for(source[i : i + step], embedder) for i in range(0, total, step)]


async def live_stream(
    settings: Settings, batches: list[list[posting_pb2.PostingEvent]], stop: asyncio.Event
) -> int:
    """Send one prepared batch every 0.1 s until ``stop`` (or the batches run out)."""
    if not batches:
        return 0
    producer = producer_for(settings)
    await producer.start()
    sent = 0
    try:
        for batch in batches:
            if stop.is_set():
                break
            t = time.perf_counter()
            await send_packs(producer, settings, batch)
            sent += len(batch)
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - t)))
    finally:
        await producer.stop()
    return sent


async def run(settings: Settings, n: int, live_rate: int) -> dict[str, Any]:
    console.print(f"[bold]{n:,} postings[/bold]: generating, producing packs, COPY baseline")
    prepared = await load_data(settings, n)
    console.print(
        f"  prepared in {prepared['prepare_seconds']} s; COPY {prepared['copy_unindexed']}"
    )
    batches = live_events(n, live_rate)
    console.print("rebuild (with a live stream of new postings)")
    stop = asyncio.Event()
    live = asyncio.create_task(live_stream(settings, batches, stop))
    await asyncio.sleep(1.0)
    try:
        report = await rebuild(settings)
    finally:
        stop.set()
        live_sent = await live
    doc = report.to_json()
    total = doc["seconds_total"]
    phases = {
        "loading": doc["seconds_loading"],
        "indexing": doc["seconds_indexing"],
        "catching_up": doc["seconds_catching_up"],
        "swapping": doc["seconds_swapping"],
    }
    result = {
        "n": n,
        "events_read": doc["events_read"],
        "rows": doc["rows"],
        "live_stream": {"rate_per_s": live_rate, "postings_sent": live_sent},
        "rebuild_postings_per_s": round(doc["events_read"] / total) if total else None,
        "seconds_total": total,
        "seconds": phases,
        "share": {k: round(v / total, 3) if total else None for k, v in phases.items()},
        "other_seconds": round(total - sum(phases.values()), 3),
        "load_phase_postings_per_s": round(n / doc["seconds_loading"])
        if doc["seconds_loading"]
        else None,
        "vector_index": doc["vector_index"],
        "vector_index_lists": doc["vector_index_lists"],
        "catch_up_rounds": doc["catch_up_rounds"],
        "copy_unindexed": prepared["copy_unindexed"],
        "kafka_records": prepared["kafka_records"],
        "rebuild_vs_copy": round(
            (doc["events_read"] / total) / prepared["copy_unindexed"]["rows_per_s"], 3
        )
        if total and prepared["copy_unindexed"]["rows_per_s"]
        else None,
        "report": doc,
    }
    console.print_json(json.dumps({k: v for k, v in result.items() if k != "report"}))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, action="append", help="postings (repeatable)")
    parser.add_argument("--live-rate", type=int, default=1000, help="live postings/s")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sizes = args.n or [100_000]
    existing: dict[str, Any] = {}
    if args.out.exists():
        with contextlib.suppress(ValueError):
            existing = json.loads(args.out.read_text())
    runs: dict[str, Any] = dict(existing.get("runs", {}))
    for n in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="bench-rebuild-") as home,
            local_stack(Path(home)) as settings,
        ):
            runs[str(n)] = asyncio.run(run(settings, n, args.live_rate))
            runs[str(n)]["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    doc = {
        "benchmark": "jobstream rebuild vs COPY into an unindexed table",
        "machine": machine(),
        "commit": git_commit(),
        "notes": "everything (Kafka, PostgreSQL, the rebuild, the live producer) on the same "
        "2 cores, shared with other work; hashing-embedder 384-d clustered vectors; "
        "gateway-style packs on 6 partitions; no sink worker during the rebuild",
        "runs": runs,
    }
    write_result(args.out, doc, console.print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
