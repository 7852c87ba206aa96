"""Measure ingest throughput: postings/s from a producer process through the gateway
into Kafka (acked). Not run in CI.

    JOBSTREAM_*=... python -m gateway.bench --n 20000 --batch 500 --format pack

Needs a running stack (`jobstream up`). The gateway runs in this process; the producer
runs in a child process (as in production, it does not share the gateway's CPU core)
and builds all postings before the clock starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time

from gateway.kafka_writer import RecordFormat
from gateway.testing import running_gateway
from schemas.settings import load_settings

_PRODUCER = """
import asyncio, json, sys, time, uuid
from gateway.client import IngestClient
from gateway.testing import sample_event
target, n, size, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
prefix = uuid.uuid4().hex[:8]
batches = []
for start in range(0, n, size):
    batch = []
    for i in range(start, min(n, start + size)):
        m = sample_event(i); m.id = f"bench-{prefix}:{i}"; batch.append(m)
    batches.append(batch)
async def main():
    accepted = 0
    def on_ack(ack, _):
        nonlocal accepted
        accepted += len(ack.accepted_ids)
    client = IngestClient(target, producer_id=f"bench-{prefix}", window=window, on_ack=on_ack)
    t = time.perf_counter()
    async with client:
        for b in batches:
            await client.send(b)
    return time.perf_counter() - t, accepted
elapsed, accepted = asyncio.run(main())
print(json.dumps({"elapsed_s": elapsed, "accepted": accepted}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def bench(n: int, batch: int, window: int, fmt: RecordFormat) -> dict[str, object]:
    settings = load_settings()
    async with running_gateway(settings, gateway_port=_free_port(), record_format=fmt) as gw:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PRODUCER,
            gw.address,
            str(n),
            str(batch),
            str(window),
            stdout=subprocess.PIPE,
        )
        stdout, _ = await proc.communicate()
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    rate = result["accepted"] / result["elapsed_s"]
    return {"format": fmt, "n": n, "batch": batch, "window": window, **result, "per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--format", choices=["pack", "event"], default="pack")
    args = parser.parse_args()
    started = time.perf_counter()
    result = asyncio.run(bench(args.n, args.batch, args.window, args.format))
    result["wall_s"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
