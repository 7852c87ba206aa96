"""Alerts matching at scale: SAVED generated saved searches, POSTINGS postings through the
sink, on a private stack (issue #13's performance targets).

Saved searches are generated from the posting generator's own vocabulary (1-3 words of a
title, sometimes a skill; filters on country (85 %), remote mode, experience, salary, skills,
recency; 40 % HYBRID, 30 % KEYWORD, 30 % SEMANTIC, 2 % filters only). Three profiles
(BENCH_PROFILE): ``broad`` as just said, where the generator's small vocabulary makes a
posting match ~137 of 100,000 saved searches; ``city`` adds a city (60 % of those naming a
country), a skill in the query (60 %), an experience band (50 %): still ~90, since the
generated descriptions repeat a few hundred words; ``selective`` (the default) is closer
to what a real vocabulary gives job seekers' alerts: the whole title and a skill, a
country (95 %) and city (80 %), an experience band (50 %). Embedded with the *hashing*
embedder (fast, deterministic; its cosines are lower than a model's, so ``min_score`` is
0.5), written into ``saved_searches`` with the materialiser's own upsert before the alerts
worker starts (it loads them into memory).

Cases, one run:

- ``sink_alone``: postings/s of one sink worker (pre-produced backlog, timed from the first
  commit to the log end), no alerts worker;
- ``alerts_backlog``: the same backlog with one alerts worker: matched postings/s (from
  the alerts group's first commit to its end of cache-invalidation.v1);
- ``alerts_paced``: postings produced at PACED_RATE/s: alert latency = alert record's
  append time on alerts.v1 - ``Invalidation.committed_at`` (p50/p99);
- ``brute_force``: every posting of a sample against every saved search in one exact
  statement (no candidate indexes, the exact predicate on the cross product), postings/s.

Writes tests/bench/results/alerts.json. Run: ``.venv/bin/python tests/bench/bench_alerts.py``
(BENCH_SAVED, BENCH_POSTINGS, BENCH_PACED_RATE to change the sizes; BENCH_MIN_SCORE the
semantic floor of every saved search).
"""

from __future__ import annotations

import asyncio
import json
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
from rich.progress import Progress

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway.generator import embedding_text, generate  # noqa: E402
from schemas.domain.convert import from_json  # noqa: E402
from schemas.embedding import make_embedder  # noqa: E402
from schemas.jobstream.v1 import alerts_pb2  # noqa: E402
from schemas.search import synonyms  # noqa: E402
from schemas.search.filters import PostingFilter  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from streams.alerts.backfill import alias_params  # noqa: E402
from streams.alerts.sql import SCORE, canonical_skills, match_condition  # noqa: E402
from tests.support.alert_matching import (  # noqa: E402
    AlertsProcess,
    Saved,
    insert_saved,
    make_alert_topics,
    saved_id,
)
from tests.support.bench import machine, percentiles_ms, write_result  # noqa: E402
from tests.support.sink import WorkerProcess, make_topics, produce  # noqa: E402
from tests.support.sink import metrics as sink_metrics  # noqa: E402

SAVED = int(os.environ.get("BENCH_SAVED", 100_000))
POSTINGS = int(os.environ.get("BENCH_POSTINGS", 20_000))
PACED_RATE = int(os.environ.get("BENCH_PACED_RATE", 200))
PACED_SECONDS = 20
BRUTE_SAMPLE = 100
MIN_SCORE = float(os.environ.get("BENCH_MIN_SCORE", 0.5))
PROFILE = os.environ.get("BENCH_PROFILE", "selective")
RESULTS = Path(os.environ.get("BENCH_OUT", ROOT / "tests" / "bench" / "results" / "alerts.json"))
DIM = 384


def postings(n: int, seed: int) -> list[tuple[bytes, bytes]]:
    """(key, PostingEvent bytes) of ``n`` generated postings, hash-embedded."""
    embedder = make_embedder("hash", DIM)
    items = list(generate(n, seed=seed))
    vectors = np.asarray(embedder.embed([embedding_text(d) for d in items]), dtype="<f4")
    out = []
    for data, vector in zip(items, vectors, strict=True):
        msg = from_json(data)
        msg.body.embedding = vector.tobytes()
        msg.body.embedding_model = embedder.name
        out.append((data["id"].encode(), msg.SerializeToString()))
    return out


def searches(n: int, rng: np.random.Generator) -> list[Saved]:
    """Realistic saved searches drawn from generated postings' titles and skills."""
    embedder = make_embedder("hash", DIM)
    sources = list(generate(2_000, seed=99))
    out: list[Saved] = []
    for _ in range(n):
        src = sources[int(rng.integers(len(sources)))]
        words = [w.lower() for w in src["title"].replace("/", " ").split() if w.isalpha()]
        take = max(1, min(len(words), int(rng.integers(2, 4))))  # "engineer" alone: no
        if PROFILE == "selective":
            take = min(len(words), 4)
        query_words = words[-take:]
        skill = {"broad": 0.4, "city": 0.6, "selective": 1.0}[PROFILE]
        if src["skills"] and rng.random() < skill:
            query_words.append(str(rng.choice(src["skills"])))
        query = " ".join(query_words)
        roll = rng.random()
        mode = "HYBRID" if roll < 0.4 else "KEYWORD" if roll < 0.7 else "SEMANTIC"
        f: dict[str, Any] = {}
        if rng.random() < (0.95 if PROFILE == "selective" else 0.85):  # where they live
            f["country_code"] = src["location"]["country_code"]
            city = {"broad": 0.0, "city": 0.6, "selective": 0.8}[PROFILE]
            if rng.random() < city and src["location"].get("city"):
                f["city"] = src["location"]["city"]  # ... in their city
        if rng.random() < 0.3:
            f["remote_modes"] = (str(rng.choice(["REMOTE", "HYBRID", "ONSITE"])),)
        if rng.random() < (0.3 if PROFILE == "broad" else 0.5):
            lo = int(rng.integers(0, 6))
            f["experience_min_years"], f["experience_max_years"] = lo, lo + 3
        if rng.random() < 0.2 and src.get("salary"):
            f["salary_min"] = int(src["salary"]["min"])
            f["currency"] = src["salary"]["currency"]
        if rng.random() < 0.15 and src["skills"]:
            f["skills_any"] = tuple(src["skills"][:2])
        if rng.random() < 0.02:  # filters only: made selective
            query, f["country_code"] = "", src["location"]["country_code"]
            f["remote_modes"], f["skills_all"] = ("REMOTE",), tuple(src["skills"][:1])
        out.append(Saved(saved_id(), query, PostingFilter(**f), mode, MIN_SCORE, None))
    texts = [s.query for s in out if s.query]
    vectors = iter(np.asarray(embedder.embed(texts, "query"), dtype=np.float32))
    return [
        Saved(
            s.id,
            s.query,
            s.filter,
            s.mode,
            s.min_score,
            next(vectors) if s.query else None,
            embedder.name,
        )
        for s in out
    ]


async def load_saved(settings: Settings, saved: list[Saved], progress: Progress) -> None:
    task = progress.add_task("saved searches", total=len(saved))
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute("TRUNCATE saved_searches, alerts, alerts_publisher_offsets")
        for start in range(0, len(saved), 5_000):
            chunk = saved[start : start + 5_000]
            await insert_saved(settings, chunk)
            progress.advance(task, len(chunk))
        await conn.execute("VACUUM ANALYZE saved_searches")
    finally:
        await conn.close()


async def reset_postings(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute(
            "TRUNCATE postings, alerts, alerts_publisher_offsets; DELETE FROM invalidation_outbox"
        )
    finally:
        await conn.close()


async def committed(admin: AIOKafkaAdminClient, group: str, topic: str) -> int:
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except GroupCoordinatorNotAvailableError:
        return 0
    return sum(max(0, m.offset) for tp, m in offsets.items() if tp.topic == topic)


async def timed_until(
    admin: AIOKafkaAdminClient, group: str, topic: str, total: int, progress: Progress, what: str
) -> tuple[float, int]:
    """(seconds from the group's first commit on ``topic`` until it reaches ``total``,
    what was committed at that first sight)."""
    task = progress.add_task(what, total=total)
    first: tuple[float, int] | None = None
    while True:
        done = await committed(admin, group, topic)
        progress.update(task, completed=done)
        now = time.perf_counter()
        if first is None and done > 0:
            first = (now, done)
        if done >= total and first is not None:
            return now - first[0], first[1]
        await asyncio.sleep(0.05)


async def end_of(settings: Settings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)  # make_topics gives invalidations one partition
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def run(
    settings: Settings, records: list[tuple[bytes, bytes]], logs: Path, progress: Progress
) -> dict[str, Any]:
    """The sink alone on a backlog, then the alerts worker on the invalidations it left,
    then both at a paced rate."""
    await reset_postings(settings)
    topics = await make_topics(settings, partitions=6)
    env = await make_alert_topics(settings, topics)
    paced_n = PACED_RATE * PACED_SECONDS
    backlog, paced = records[:-paced_n], records[-paced_n:]
    await produce(settings, topics.postings, backlog)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    sink = WorkerProcess(topics, logs, "sink").start()
    alerts: AlertsProcess | None = None
    out: dict[str, Any] = {}
    try:
        seconds, before = await timed_until(
            admin, topics.group, topics.postings, len(backlog), progress, "sink alone"
        )
        out["sink_alone"] = {
            "postings": len(backlog),
            "seconds": round(seconds, 2),
            "postings_per_s": round((len(backlog) - before) / seconds),
        }
        progress.console.print("sink alone", out["sink_alone"])
        invalidations = await end_of(settings, topics.invalidations)
        alerts = AlertsProcess(topics, env, logs).start()
        group = env["JOBSTREAM_ALERTS_CONSUMER_GROUP"]
        await timed_until(
            admin, group, topics.invalidations, invalidations, progress, "matcher on the backlog"
        )
        alerts_n = await ledger_count(settings)
        busy = sink_metrics(alerts.metrics_port)
        span = await matched_seconds(settings)
        matched = busy["jobstream_alerts_postings_matched_total"]
        busy_s = busy["jobstream_alerts_batch_seconds_sum"]
        stage = 'jobstream_alerts_stage_seconds_sum{{stage="{}"}}'
        out["matcher_backlog"] = {
            "postings": len(backlog),
            "invalidations": invalidations,
            "alerts": alerts_n,
            "alerts_per_posting": round(alerts_n / len(backlog), 2),
            "candidates_per_posting": round(
                busy["jobstream_alerts_candidates_total"] / len(backlog), 2
            ),
            "busy_seconds": round(busy_s, 2),
            "match_seconds": round(busy[stage.format("match")], 2),
            "publish_seconds": round(busy[stage.format("publish")], 2),
            "first_to_last_match_s": round(span, 2),
            # matching capacity: postings per second of poll handling (match + publish)
            "postings_per_s": round(matched / busy_s),
        }
        progress.console.print("matcher", out["matcher_backlog"])
        paced_from = time.time()
        task = progress.add_task("paced", total=len(paced))
        step = max(1, PACED_RATE // 10)
        for start in range(0, len(paced), step):
            tick = time.perf_counter()
            await produce(settings, topics.postings, paced[start : start + step])
            progress.advance(task, step)
            await asyncio.sleep(max(0.0, 0.1 - (time.perf_counter() - tick)))
        await asyncio.sleep(5)
        latencies = await alert_latencies(settings, env["JOBSTREAM_TOPIC_ALERTS"], paced_from)
        out["paced"] = {
            "rate_per_s": PACED_RATE,
            "postings": len(paced),
            "alerts": len(latencies),
            "latency_ms": percentiles_ms(latencies),
        }
        progress.console.print("paced", out["paced"])
    finally:
        sink.terminate()
        if alerts is not None:
            alerts.terminate()
        await admin.close()
    return out


async def matched_seconds(settings: Settings) -> float:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        span = await conn.fetchval(
            "SELECT extract(epoch FROM max(matched_at) - min(matched_at)) FROM alerts"
        )
    finally:
        await conn.close()
    return float(span or 0.0)


async def ledger_count(settings: Settings) -> int:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM alerts"))
    finally:
        await conn.close()


async def alert_latencies(settings: Settings, topic: str, since: float) -> list[float]:
    """Append time on alerts.v1 - committed_at, for alerts of postings committed after
    ``since`` (the paced phase)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    out = []
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for r in records:
                    alert = alerts_pb2.Alert.FromString(r.value)
                    committed = alert.committed_at.seconds + alert.committed_at.nanos / 1e9
                    if committed >= since and not alert.closed:
                        out.append(max(0.0, r.timestamp / 1000 - committed))
    finally:
        await consumer.stop()
    return out


async def brute_force(settings: Settings, sample: int) -> dict[str, Any]:
    """Every sampled posting against every saved search: the exact predicate on the
    cross product (no candidate index), in a rolled-back transaction."""
    skills = canonical_skills("p.skills", "$2::text[]", "$3::text[]")
    statement = f"""
    SELECT count(*) FROM (SELECT * FROM postings WHERE id = ANY($1::text[])) AS p
    CROSS JOIN saved_searches AS s
    CROSS JOIN LATERAL (SELECT {SCORE} AS score) AS m
    WHERE {match_condition(skills)}
    """
    names, canonicals = alias_params(synonyms.active())
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM postings LIMIT $1", sample)]
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_indexscan = off")
            await conn.execute("SET LOCAL enable_bitmapscan = off")
            started = time.perf_counter()
            matches = await conn.fetchval(statement, ids, names, canonicals)
            seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {
        "postings": len(ids),
        "matches": matches,
        "seconds": round(seconds, 2),
        "postings_per_s": round(len(ids) / seconds, 1),
    }


async def bench(settings: Settings, logs: Path) -> dict[str, Any]:
    rng = np.random.default_rng(13)
    out: dict[str, Any] = {
        "profile": PROFILE,
        "saved_searches": SAVED,
        "postings": POSTINGS,
        "embedder": "hash",
        "min_score": MIN_SCORE,
    }
    with Progress() as progress:
        progress.console.print(f"generating {SAVED} saved searches, {POSTINGS} postings")
        saved = searches(SAVED, rng)
        records = postings(POSTINGS, seed=5)
        await load_saved(settings, saved, progress)
        out.update(await run(settings, records, logs, progress))
        out["brute_force"] = await brute_force(settings, BRUTE_SAMPLE)
        progress.console.print("brute force", out["brute_force"])
    indexed = out["matcher_backlog"]["postings_per_s"]
    out["index_speedup_vs_brute_force"] = round(indexed / out["brute_force"]["postings_per_s"], 1)
    out["machine"] = machine()
    return out


def main() -> None:
    from tests.support.provision import local_stack

    with (
        tempfile.TemporaryDirectory(prefix="bench-alerts-") as home,
        local_stack(Path(home)) as settings,
    ):
        logs = Path(home) / "bench-logs"
        logs.mkdir()
        out = asyncio.run(bench(settings, logs))
    print(json.dumps(out, indent=2, default=str))
    write_result(RESULTS, out)


if __name__ == "__main__":
    main()
