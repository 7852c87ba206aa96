"""Gateway ingest throughput: postings/s from a producer process through the gateway into
Kafka (acked). Not run in CI.

The gateway runs in this process; the producer runs in a child process (as in
production, it does not share the gateway's CPU core) and builds all postings before the
clock starts. Runs on a private stack in a temporary folder, or on the configured one with
``--running`` (``jobstream up``). Writes tests/bench/results/gateway.json. Run:
``.venv/bin/python tests/bench/bench_gateway.py --n 50000 --batch 500 --format pack``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway.kafka_writer import RecordFormat  # noqa: E402
from schemas.settings import Settings, load_settings  # noqa: E402
from tests.support.bench import machine, write_result  # noqa: E402
from tests.support.gateway import running_gateway  # noqa: E402
from tests.support.provision import free_port, local_stack  # noqa: E402

RESULTS = ROOT / "tests" / "bench" / "results" / "gateway.json"

_PRODUCER = """
import asyncio, json, sys, time, uuid
from gateway.client import IngestClient
from tests.support.gateway import sample_event
target, n, size, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
token = sys.argv[5]
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
    client = IngestClient(
        target, producer_id=f"bench-{prefix}", token=token, window=window, on_ack=on_ack
    )
    t = time.perf_counter()
    async with client:
        for b in batches:
            await client.send(b)
    return time.perf_counter() - t, accepted
elapsed, accepted = asyncio.run(main())
print(json.dumps({"elapsed_s": elapsed, "accepted": accepted}))
"""


def publish_key(settings: Settings) -> str:
    """The key the producer sends: the stack's bootstrap publish token or JOBSTREAM_API_KEY."""
    secret = settings.api_key or settings.ingest_token
    if secret is None:
        raise SystemExit("set JOBSTREAM_API_KEY to a publish key (jobstream keys create NAME)")
    return secret.get_secret_value()


async def bench(
    settings: Settings, n: int, batch: int, window: int, fmt: RecordFormat
) -> dict[str, Any]:
    async with running_gateway(settings, gateway_port=free_port(), record_format=fmt) as gw:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PRODUCER,
            gw.address,
            str(n),
            str(batch),
            str(window),
            publish_key(settings),
            cwd=ROOT,  # the child imports tests.support
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
    parser.add_argument("--running", action="store_true", help="use the configured stack")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    run = (args.n, args.batch, args.window, args.format)
    if args.running:
        result = asyncio.run(bench(load_settings(), *run))
    else:
        with (
            tempfile.TemporaryDirectory(prefix="bench-gateway-") as home,
            local_stack(Path(home)) as settings,
        ):
            result = asyncio.run(bench(settings, *run))
    result["wall_s"] = round(time.perf_counter() - started, 2)
    result["machine"] = machine()
    print(json.dumps(result))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
