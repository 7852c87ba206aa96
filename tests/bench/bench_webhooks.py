"""Webhook delivery throughput: alerts.v1 -> the delivery worker -> a local receiver.

The issue's target: "webhook delivery to a local receiver >= 500 alerts/s" on 2 cores.

One run per configuration, on a private stack (``local_stack`` in a temporary folder):

- ``--searches`` saved searches with a webhook to a receiver in this process (aiohttp,
  answering 200 at once; every 100th signature verified);
- the delivery worker (``python -m streams.alerts.delivery``, email off) as a subprocess,
  started and serving /metrics before the clock starts;
- ``--n`` alerts produced to alerts.v1 as fast as aiokafka goes (keyed by saved search);
  the clock runs from the first send to the last alert received;
- reported: alerts/s, the latency from each alert's matched_at (set at produce) to its
  receipt (p50/p95/p99), duplicates (must be 0), and the worker's CPU seconds.

Run (one benchmark at a time on a shared machine)::

    .venv/bin/python tests/bench/bench_webhooks.py                # ~2 min
    .venv/bin/python tests/bench/bench_webhooks.py --n 50000 --per-host 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from schemas import kafka  # noqa: E402
from schemas.jobstream.v1 import alerts_pb2  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from schemas.webhooks import ALERT_ID_HEADER, SIGNATURE_HEADER, verify  # noqa: E402
from tests.support.bench import (  # noqa: E402
    Child,
    git_commit,
    latency_ms,
    machine,
    write_result,
)
from tests.support.provision import free_port, local_stack  # noqa: E402

OUT = ROOT / "tests" / "bench" / "results" / "webhooks.json"
SECRET = "whsec_bench"
console = Console(stderr=True)


class Receiver:
    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.all_in = asyncio.Event()
        self.received: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.bad_signatures = 0
        self.last_at = 0.0
        self.sent_at: dict[str, float] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        alert_id = request.headers.get(ALERT_ID_HEADER, "")
        now = time.time()
        self.received[alert_id] += 1
        if len(self.received) % 100 == 0 and not verify(
            SECRET, request.headers.get(SIGNATURE_HEADER, ""), body
        ):
            self.bad_signatures += 1
        started = self.sent_at.get(alert_id)
        if started is not None and self.received[alert_id] == 1:
            self.latencies.append(now - started)
        self.last_at = now
        if len(self.received) >= self.expect:
            self.all_in.set()
        return web.Response(text="ok")


async def run(
    settings: Settings, n: int, searches: int, per_host: int, logs: Path
) -> dict[str, Any]:
    receiver = Receiver(n)
    runner = web.AppRunner(web.Application(), access_log=None)
    runner.app.router.add_post("/{tail:.*}", receiver.handle)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    tag = uuid.uuid4().hex[:8]
    sids = [f"ss_bench{tag}{i:06d}" for i in range(searches)]
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.executemany(
            "INSERT INTO saved_searches (id, secret_sha256, query, filter, mode, min_score, "
            "webhook_url, webhook_signing_secret, created_at, source_partition, source_offset) "
            "VALUES ($1, '\\x00', '', '{}', 'KEYWORD', 0, $2, $3, now(), 0, 0)",
            [(s, f"http://127.0.0.1:{port}/hook/{s}", SECRET) for s in sids],
        )
    finally:
        await conn.close()
    metrics_port = free_port()
    env = {
        **os.environ,
        "JOBSTREAM_EMAIL_ENABLED": "false",
        "JOBSTREAM_WEBHOOK_PER_HOST": str(per_host),
        "JOBSTREAM_ALERTS_DELIVERY_METRICS_PORT": str(metrics_port),
        "PYTHONUNBUFFERED": "1",
    }
    worker = Child("delivery", [sys.executable, "-m", "streams.alerts.delivery"], env, logs)
    try:
        while not worker.grep("alert delivery ready"):
            if not worker.alive():
                raise RuntimeError("the delivery worker exited:\n" + worker.tail())
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # its consumer groups join
        proc = psutil.Process(worker.proc.pid)
        cpu_before = sum(proc.cpu_times()[:2])
        producer = kafka.producer(settings, "bench", linger_ms=5, max_batch_size=256 * 1024)
        await producer.start()
        started = time.time()
        try:
            futures = []
            for i in range(n):
                sid = sids[i % searches]
                ts = Timestamp()
                ts.GetCurrentTime()
                alert = alerts_pb2.Alert(
                    id=f"{sid}/p{i}", saved_search_id=sid, posting_id=f"p{i}", version=1,
                    score=0.5, highlights_json="[]", matched_at=ts, committed_at=ts, sequence=i,
                )  # fmt: skip
                receiver.sent_at[alert.id] = time.time()
                futures.append(
                    await producer.send(
                        settings.topic_alerts, alert.SerializeToString(), key=sid.encode()
                    )
                )
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        produced_s = time.time() - started
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.all_in.wait(), max(120.0, n / 50))
        elapsed = receiver.last_at - started
        cpu = sum(proc.cpu_times()[:2]) - cpu_before
        await asyncio.sleep(1.0)  # late duplicates would show now
    finally:
        worker.stop()
        await runner.cleanup()
    delivered = len(receiver.received)
    return {
        "alerts": n,
        "saved_searches": searches,
        "webhook_per_host": per_host,
        "delivered": delivered,
        "duplicates": sum(c - 1 for c in receiver.received.values()),
        "bad_signatures_in_sample": receiver.bad_signatures,
        "produce_s": round(produced_s, 2),
        "elapsed_s": round(elapsed, 2),
        "alerts_per_s": round(delivered / elapsed, 1) if elapsed > 0 else None,
        "latency_from_produce": latency_ms(receiver.latencies),
        "worker_cpu_s": round(cpu, 1),
        "worker_cpu_ms_per_alert": round(1000 * cpu / max(1, delivered), 3),
        "target_alerts_per_s": 500,
        "met": delivered == n and elapsed > 0 and delivered / elapsed >= 500,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="alerts")
    parser.add_argument("--searches", type=int, default=200, help="saved searches")
    parser.add_argument(
        "--per-host", type=int, action="append", help="JOBSTREAM_WEBHOOK_PER_HOST (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    existing: dict[str, Any] = {}
    if args.out.exists():
        with contextlib.suppress(ValueError):
            existing = json.loads(args.out.read_text())
    runs: dict[str, Any] = dict(existing.get("runs", {}))
    for per_host in args.per_host or [8, 64]:
        with (
            tempfile.TemporaryDirectory(prefix="bench-webhooks-") as home,
            local_stack(Path(home)) as settings,
        ):
            result = asyncio.run(run(settings, args.n, args.searches, per_host, Path(home)))
        result["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        runs[f"n={args.n},per_host={per_host}"] = result
        console.print_json(json.dumps(result))
    doc = {
        "benchmark": "webhook delivery: alerts.v1 -> delivery worker -> a local receiver",
        "machine": machine(),
        "commit": git_commit(),
        "notes": "everything (Kafka, PostgreSQL, the delivery worker, the receiver and the "
        "producer) on the same 2 cores, shared with other work; one receiver host "
        "(127.0.0.1), so JOBSTREAM_WEBHOOK_PER_HOST bounds the POSTs in flight; the "
        "receiver answers 200 at once",
        "runs": runs,
    }
    write_result(args.out, doc, console.print)
    return 0


if __name__ == "__main__":
    sys.exit(main())
