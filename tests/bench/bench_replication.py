"""What replication costs, and how long a broker's loss interrupts writes (issue #14).

In one run, on private local clusters started with the stack's own code:

- ``produce``: RECORDS posting-sized records (SIZE bytes) produced acks=all by the
  platform's producer (``schemas.kafka.producer``: idempotent, lz4) to a 6-partition
  topic on a single broker (replication factor 1) and on a three-node cluster
  (replication factor 3, min.insync.replicas 2); records/s and the ratio;
- ``kafka_producer_perf_test``: the same with Kafka's own ``kafka-producer-perf-test``
  (acks=all), the independent figure;
- ``failover``: while one record is produced every 5 ms, kill -9 the leader of partition
  0; the time from the kill to the ack of the first record sent after it (and the
  longest gap between two acks), and after the node is started again, the time until
  every partition's in-sync replicas are full again;
- ``end_to_end``: ``bench_e2e.py`` (producer -> gateway -> Kafka -> sink -> PostgreSQL)
  on a full local stack with one broker and with the three-node cluster, E2E_N postings
  each, the two alternated E2E_ROUNDS times; postings/s acked and landed (medians), and
  the ratios.

Writes tests/bench/results/replication.json. Run: ``.venv/bin/python
tests/bench/bench_replication.py`` (BENCH_RECORDS, BENCH_SIZE, BENCH_E2E_N and
BENCH_E2E_ROUNDS change the load; ``--e2e-only`` runs the end-to-end part alone and keeps
the rest of the results).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from infra.stack import kafka as local_kafka  # noqa: E402
from infra.stack.paths import StackPaths  # noqa: E402
from schemas import kafka  # noqa: E402
from schemas.settings import Settings, load_settings  # noqa: E402
from schemas.topics import TopicSpec, create_missing  # noqa: E402
from tests.support.bench import machine, write_result  # noqa: E402
from tests.support.provision import free_ports_in_a_row  # noqa: E402

RECORDS = int(os.environ.get("BENCH_RECORDS", 100_000))
SIZE = int(os.environ.get("BENCH_SIZE", 2_000))  # a posting with its 384-d vector: ~2 KB
TOPIC = "bench-replication"
E2E_N = int(os.environ.get("BENCH_E2E_N", 30_000))
E2E_ROUNDS = int(os.environ.get("BENCH_E2E_ROUNDS", 2))
RESULTS = ROOT / "tests" / "bench" / "results" / "replication.json"


def cluster(home: Path, brokers: int) -> Settings:
    base = free_ports_in_a_row(2 * brokers)
    settings = load_settings(
        home=home,
        kafka_bootstrap_servers=f"127.0.0.1:{base}",
        kafka_controller_port=base + 1,
        kafka_brokers=brokers,
        kafka_heap="512m",
        kafka_runtime="jvm",
    )
    print(local_kafka.start(settings, StackPaths.create(home)), flush=True)
    return settings.model_copy(update={"kafka_bootstrap_servers": settings.local_kafka_bootstrap})


async def make_topic(settings: Settings) -> None:
    admin = kafka.admin(settings, "bench")
    await admin.start()
    try:
        await create_missing(admin, [TopicSpec(TOPIC, 6)])
        for _ in range(100):  # until every partition has a leader
            meta = await admin.describe_topics([TOPIC])
            if meta and all(p["leader"] >= 0 for p in meta[0]["partitions"]):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def produce(settings: Settings) -> dict[str, Any]:
    producer = kafka.producer(settings, "bench")
    await producer.start()
    value = os.urandom(SIZE // 2).hex().encode()[:SIZE]  # incompressible, like vectors
    try:
        started = time.perf_counter()
        pending = []
        for i in range(RECORDS):
            pending.append(await producer.send(TOPIC, value, key=f"p{i}".encode()))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        seconds = time.perf_counter() - started
    finally:
        await producer.stop()
    return {
        "records": RECORDS,
        "record_bytes": SIZE,
        "seconds": round(seconds, 2),
        "records_per_s": round(RECORDS / seconds),
        "mb_per_s": round(RECORDS * SIZE / seconds / 1e6, 1),
    }


def perf_test(settings: Settings) -> dict[str, Any]:
    """Kafka's own kafka-producer-perf-test, acks=all, the same records."""
    runtime = local_kafka.resolve_runtime(settings)
    done = subprocess.run(
        [
            local_kafka.java(),
            "-cp",
            runtime.classpath,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            TOPIC,
            "--num-records",
            str(RECORDS),
            "--record-size",
            str(SIZE),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={settings.kafka_bootstrap_servers}",
            "acks=all",
            "enable.idempotence=true",
            "compression.type=lz4",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    last = done.stdout.strip().splitlines()[-1]
    found = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency", last)
    if found is None:
        return {"output": last}
    return {
        "records_per_s": round(float(found.group(1))),
        "mb_per_s": float(found.group(2)),
        "avg_latency_ms": float(found.group(3)),
    }


async def failover(settings: Settings, home: Path) -> dict[str, Any]:
    """Kill -9 partition 0's leader while producing to it; time to the next ack; restart
    the node; time until the in-sync replicas are full again."""
    admin = kafka.admin(settings, "bench-failover")
    await admin.start()
    producer = kafka.producer(settings, "bench-failover", request_timeout_ms=30_000)
    await producer.start()
    paths = StackPaths.create(home)
    acked: list[tuple[float, float]] = []  # (sent, acked) monotonic times
    stop = asyncio.Event()

    async def keep_producing() -> None:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                await (await producer.send(TOPIC, b"x", partition=0))
                acked.append((sent, time.monotonic()))
            except KafkaError:
                pass
            await asyncio.sleep(0.005)

    try:
        meta = await admin.describe_topics([TOPIC])
        leader = next(p["leader"] for p in meta[0]["partitions"] if p["partition"] == 0)
        task = asyncio.create_task(keep_producing())
        await asyncio.sleep(2)
        pidfile = paths.pidfile(local_kafka.node_name(leader))
        pid = int(json.loads(pidfile.read_text())["pid"])
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        while not any(sent > killed for sent, _ in acked):  # a record sent after the kill
            await asyncio.sleep(0.01)
            if time.monotonic() - killed > 120:
                break
        first_ack = next((done for sent, done in acked if sent > killed), float("nan")) - killed
        times = [done for _, done in acked]
        outage = max(b - a for a, b in itertools.pairwise(times))
        await asyncio.sleep(2)
        restarted = time.monotonic()
        await asyncio.to_thread(local_kafka.start, settings, paths)  # the lost node only
        while True:
            meta = await admin.describe_topics([TOPIC])
            parts = meta[0]["partitions"]
            if all(len(p["isr"]) == len(p["replicas"]) for p in parts):
                break
            await asyncio.sleep(0.1)
        isr_full = time.monotonic() - restarted
        stop.set()
        await task
    finally:
        await producer.stop()
        await admin.close()
    return {
        "killed_node": leader,
        "kill_to_first_ack_s": round(first_ack, 2),
        "longest_gap_between_acks_s": round(outage, 2),
        "restart_to_isr_full_s": round(isr_full, 2),
        "acked_during_run": len(acked),
    }


async def run(single: Settings, three: Settings, home3: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, settings in (("rf1_single_broker", single), ("rf3_three_brokers", three)):
        await make_topic(settings)
        out[name] = await produce(settings)
        print(name, out[name], flush=True)
    out["ratio_rf3_vs_rf1"] = round(
        out["rf3_three_brokers"]["records_per_s"] / out["rf1_single_broker"]["records_per_s"], 2
    )
    out["failover"] = await failover(three, home3)
    print("failover", out["failover"], flush=True)
    return out


def end_to_end(tmp: Path) -> dict[str, Any]:
    """The ingest path on one broker and on three (RF 3), alternated E2E_ROUNDS times so
    a noisy neighbour weighs on both; the median of each."""
    out: dict[str, Any] = {"postings": E2E_N, "rounds": E2E_ROUNDS}
    shapes = (("rf1_single_broker", 1), ("rf3_three_brokers", 3))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in shapes}
    for round_ in range(E2E_ROUNDS):
        for name, brokers in shapes:
            result = tmp / f"e2e-{brokers}-{round_}.json"
            subprocess.run(
                [sys.executable, str(ROOT / "tests" / "bench" / "bench_e2e.py"),
                 "--n", str(E2E_N), "--kafka-brokers", str(brokers), "--out", str(result)],
                check=True, timeout=1800,
            )  # fmt: skip
            e2e = json.loads(result.read_text())["e2e"]
            runs[name].append({"per_s": e2e["per_s"], "seconds": e2e["seconds"]})
            print(name, runs[name][-1], flush=True)
    for name, _ in shapes:
        out[name] = {
            "runs": runs[name],
            "median_per_s": {
                stage: statistics.median(r["per_s"][stage] for r in runs[name])
                for stage in ("acked", "landed")
            },
        }
    for stage in ("acked", "landed"):
        out[f"ratio_rf3_vs_rf1_{stage}"] = round(
            out["rf3_three_brokers"]["median_per_s"][stage]
            / out["rf1_single_broker"]["median_per_s"][stage],
            2,
        )
    return out


def main() -> None:
    if "--e2e-only" in sys.argv[1:]:  # refresh only the end-to-end part of the results
        with tempfile.TemporaryDirectory(prefix="bench-repl-") as tmp:
            out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            out["end_to_end"] = end_to_end(Path(tmp))
        write_result(RESULTS, out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-repl-") as tmp:
        home1, home3 = Path(tmp) / "one", Path(tmp) / "three"
        single = cluster(home1, 1)
        three = cluster(home3, 3)
        try:
            out: dict[str, Any] = {"records": RECORDS, "record_bytes": SIZE}
            out.update(asyncio.run(run(single, three, home3)))
            out["kafka_producer_perf_test"] = {}
            for name, settings in (("rf1_single_broker", single), ("rf3_three_brokers", three)):
                out["kafka_producer_perf_test"][name] = perf_test(settings)
            perf = out["kafka_producer_perf_test"]
            if all("records_per_s" in v for v in perf.values()):
                perf["ratio_rf3_vs_rf1"] = round(
                    perf["rf3_three_brokers"]["records_per_s"]
                    / perf["rf1_single_broker"]["records_per_s"],
                    2,
                )
            out["machine"] = machine()
        finally:
            local_kafka.stop(StackPaths.create(home1))
            local_kafka.stop(StackPaths.create(home3))
        out["end_to_end"] = end_to_end(Path(tmp))
    write_result(RESULTS, out)


if __name__ == "__main__":
    main()
