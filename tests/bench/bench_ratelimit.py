"""Rate limiter: per-request overhead, throughput with it on, and a normal client's p99 under
a hostile mix.

The issue's targets: the rate limiter's per-request overhead under 0.1 ms; cached request
throughput within 5 % of running without it; a normal client's cached p99 <= 50 ms while
32 hostile connections send the costliest allowed documents.

Phases:

1. in process, no server: ``TokenBuckets.take`` and ``RateLimiter.check`` (the whole
   middleware decision: headers scanned, key identified or address resolved, bucket
   taken) on an anonymous request and on one with an API key, mean over many calls;
2. a private stack (``local_stack``) with ``--n`` generated postings COPYed in and the
   IVFFlat index built (bench_api's loader), the API as a separate process
   (``python -m api``, hash embedder) restarted per setting:

   - cached throughput at c=32 for ``--duration`` s with the limits off, then on (with a
     rate no client reaches, so every request pays the check and none is refused);
   - hostile mix: 32 connections from 127.0.0.1 in a closed loop sending the costliest
     document the API accepts (the largest ``search(first:)`` with nested
     ``similar(first:)``, three aliases, that is not refused) while one normal client from
     127.0.0.2 repeats a cached search; once with the limits off, once with the default
     per-address limit (the hostile address gets 429s, the normal one is served).

Run (one benchmark at a time on a shared machine; about 3 minutes)::

    .venv/bin/python tests/bench/bench_ratelimit.py        # -> results/ratelimit.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.ratelimit import RateLimiter  # noqa: E402
from schemas.auth import KeyRing  # noqa: E402
from schemas.ratelimit import Rate, TokenBuckets  # noqa: E402
from schemas.settings import Settings, load_settings  # noqa: E402
from tests.bench.bench_api import body, load_corpus, query_texts, wait_healthy  # noqa: E402
from tests.bench.bench_e2e import copy_rows, make_postings  # noqa: E402
from tests.support.bench import Child, git_commit, latency_ms, machine, write_result  # noqa: E402
from tests.support.provision import free_port, local_stack  # noqa: E402

PYTHON = sys.executable
DEFAULT_OUT = ROOT / "tests" / "bench" / "results" / "ratelimit.json"
TARGET_OVERHEAD_MS = 0.1
TARGET_THROUGHPUT_LOSS = 0.05
TARGET_P99_MS = 50.0
HOSTILE = 32
TOKEN = "bench-publish-token"
UNREACHABLE = "1000000/s burst 1000000"

HOSTILE_DOC = """
query H($q: String!) {
  a: search(query: $q, first: %(first)d) { edges { node { id similar(first: %(sim)d) {
    node { id similar(first: %(sim)d) { node { id } } } } } } }
  b: search(query: $q, first: %(first)d) { edges { node { id similar(first: %(sim)d) {
    node { id } } } } }
  c: search(query: $q, first: %(first)d) { edges { node { id title } } }
}
"""


# --- 1. in process -----------------------------------------------------------------------


def per_call_us(fn: Any, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return round((time.perf_counter() - t) / calls * 1e6, 3)


def in_process(calls: int) -> dict[str, Any]:
    settings = load_settings(
        api_rate_limit_per_address=UNREACHABLE,
        api_rate_limit_per_key=UNREACHABLE,
        ingest_token=TOKEN,
    )
    limiter = RateLimiter(settings)
    limiter.keys = KeyRing(settings, "bench")  # the bootstrap token needs no Kafka
    headers = [(b"host", b"api"), (b"content-type", b"application/json"), (b"accept", b"*/*")]
    anonymous: dict[str, Any] = {"type": "http", "client": ("203.0.113.7", 5), "headers": headers}
    keyed = {**anonymous, "headers": [*headers, (b"authorization", f"Bearer {TOKEN}".encode())]}
    assert limiter.check(keyed) is None  # type: ignore[arg-type]  # an ASGI scope dict
    buckets = TokenBuckets(Rate(1e6, 1_000_000), max_clients=100_000)
    rotating = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(100_000)]
    it = iter(range(10**9))
    return {
        "calls": calls,
        "bucket_take_us": per_call_us(lambda: buckets.take("203.0.113.7"), calls),
        "bucket_take_rotating_addresses_us": per_call_us(
            lambda: buckets.take(rotating[next(it) % len(rotating)]), calls
        ),
        "check_anonymous_us": per_call_us(lambda: limiter.check(anonymous), calls),  # type: ignore[arg-type]  # scope dict
        "check_with_key_us": per_call_us(lambda: limiter.check(keyed), calls),  # type: ignore[arg-type]  # scope dict
    }


# --- 2. on the stack ---------------------------------------------------------------------


@contextlib.contextmanager
def api_process(home: Path, port: int, limits: dict[str, str]) -> Iterator[Child]:
    env = {
        **os.environ,
        "JOBSTREAM_EMBEDDER": "hash",
        "JOBSTREAM_API_PORT": str(port),
        "JOBSTREAM_LOG_LEVEL": "WARNING",
        "JOBSTREAM_INGEST_TOKEN": TOKEN,
        **limits,
    }
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    child = Child(f"api-{port}", [PYTHON, "-m", "api"], env, logs)
    try:
        yield child
    finally:
        child.stop()


def session_from(address: str, limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=limit)
    return aiohttp.ClientSession(connector=connector)


async def loop(
    session: aiohttp.ClientSession,
    url: str,
    payload: bytes,
    *,
    concurrency: int,
    duration: float,
) -> dict[str, Any]:
    """``concurrency`` tasks in a closed loop; latencies of 200s, counts by status."""
    times: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + duration
    headers = {"content-type": "application/json"}

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            async with session.post(url, data=payload, headers=headers) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 200:
                times.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "req_per_s": round(sum(statuses.values()) / elapsed, 1),
        "ok_per_s": round(len(times) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        **latency_ms(times),
    }


async def costliest_allowed(session: aiohttp.ClientSession, url: str, text: str) -> bytes:
    """The hostile document with the largest page sizes the API does not refuse."""
    for first, sim in ((100, 20), (50, 20), (20, 20), (20, 10), (10, 10), (10, 5), (5, 5)):
        doc = HOSTILE_DOC % {"first": first, "sim": sim}
        payload = json.dumps({"query": doc, "variables": {"q": text}}).encode()
        async with session.post(
            url, data=payload, headers={"content-type": "application/json"}
        ) as r:
            answer = await r.json()
        if r.status == 200 and not answer.get("errors"):
            return payload
    raise RuntimeError(f"every hostile document was refused: {answer}")


async def with_api(home: Path, limits: dict[str, str], run: Any) -> dict[str, Any]:
    port = free_port()
    with api_process(home, port, limits) as child:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as probe:
            await wait_healthy(probe, base, child)
        result: dict[str, Any] = await run(f"{base}/graphql")
        return result


async def stack_phases(settings: Settings, home: Path, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    events, _ = make_postings(args.n, 1)
    out["corpus"] = await load_corpus(settings, copy_rows(events, 384))
    del events
    texts = query_texts(np.random.default_rng(5))
    cached = body(texts[0])
    off = {
        "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS": "off",
        "JOBSTREAM_API_RATE_LIMIT_PER_KEY": "off",
    }
    on = {
        "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS": UNREACHABLE,
        "JOBSTREAM_API_RATE_LIMIT_PER_KEY": UNREACHABLE,
    }
    defaults = {
        "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS": str(Settings().api_rate_limit_per_address),
        "JOBSTREAM_API_RATE_LIMIT_PER_KEY": str(Settings().api_rate_limit_per_key),
    }

    async def throughput(url: str) -> dict[str, Any]:
        async with session_from("127.0.0.1", 64) as s:
            await loop(s, url, cached, concurrency=4, duration=2)  # warm caches
            return await loop(s, url, cached, concurrency=32, duration=args.duration)

    async def hostile_mix(url: str) -> dict[str, Any]:
        async with session_from("127.0.0.1", HOSTILE) as bad, session_from("127.0.0.2", 4) as good:
            payload = await costliest_allowed(good, url, texts[1])
            await loop(good, url, cached, concurrency=1, duration=1)  # cached
            hostile = asyncio.create_task(
                loop(bad, url, payload, concurrency=HOSTILE, duration=args.duration + 2)
            )
            await asyncio.sleep(1.0)
            normal = await loop(good, url, cached, concurrency=1, duration=args.duration)
            return {
                "hostile_document_bytes": len(payload),
                "hostile": await hostile,
                "normal": normal,
            }

    out["throughput_limits_off"] = await with_api(home, off, throughput)
    print("throughput, limits off:", out["throughput_limits_off"])
    out["throughput_limits_on"] = await with_api(home, on, throughput)
    print("throughput, limits on:", out["throughput_limits_on"])
    off_rps = out["throughput_limits_off"]["ok_per_s"]
    out["throughput_change"] = round(out["throughput_limits_on"]["ok_per_s"] / off_rps - 1, 3)
    out["hostile_mix_limits_off"] = await with_api(home, off, hostile_mix)
    print("hostile mix, limits off:", out["hostile_mix_limits_off"]["normal"])
    out["hostile_mix_default_limits"] = await with_api(home, defaults, hostile_mix)
    print("hostile mix, default limits:", out["hostile_mix_default_limits"]["normal"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="postings in the table")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load phase")
    parser.add_argument("--calls", type=int, default=200_000, help="in-process calls")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    result: dict[str, Any] = {"in_process": in_process(args.calls)}
    print("in process:", result["in_process"])
    with (
        tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as home,
        local_stack(Path(home)) as settings,
    ):
        result.update(asyncio.run(stack_phases(settings, Path(home), args)))
    worst = max(
        result["in_process"]["check_anonymous_us"], result["in_process"]["check_with_key_us"]
    )
    result["targets"] = {
        "overhead_ms": {"target": TARGET_OVERHEAD_MS, "measured": round(worst / 1e3, 4)},
        "throughput_change": {
            "target": -TARGET_THROUGHPUT_LOSS,
            "measured": result["throughput_change"],
        },
        "normal_p99_ms_under_hostile_mix": {
            "target": TARGET_P99_MS,
            "limits_off": result["hostile_mix_limits_off"]["normal"]["p99_ms"],
            "default_limits": result["hostile_mix_default_limits"]["normal"]["p99_ms"],
        },
    }
    result["args"] = vars(args) | {"out": str(args.out)}
    result["commit"] = git_commit()
    result["machine"] = machine(wall_s=round(time.perf_counter() - started, 1))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
