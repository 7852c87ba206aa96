"""Rate limiter: per-request overhead, cached throughput with the limits on and off, and a
normal client's p99 beside 32 hostile connections.

The issue's targets: the cost check's and the rate limiter's per-request overhead under
0.1 ms each; cached request throughput within 5 % of running without them; a normal
client's cached p99 <= 50 ms while 32 hostile connections send the costliest allowed
documents.

Phases:

1. in process, no server: ``TokenBuckets.take``; the middleware's whole decision
   (headers scanned, key identified or address resolved, a token taken, an in-flight slot
   taken and given back) for an anonymous request and one with an API key; the cost
   bill of a GraphQL operation (``RateLimiter.charge``); the cost check itself
   (``bench_limits.measure_cost_check``: a cached lookup, and the walk of a new document);
2. a private stack (``local_stack``) with ``--n`` generated postings COPYed in and the
   IVFFlat index built (bench_api's loader), the API as separate processes
   (``python -m api``, hash embedder):

   - cached throughput A/B: two API processes side by side, one with every limit off, one
     with every limit on at values no client reaches (each request pays every check, none
     is refused); ``--rounds`` rounds of c=32 for ``--duration`` s, alternating which
     goes first, so a neighbour's noise hits both; medians and their ratio;
   - hostile mix: the costliest allowed document is the slowest of a few shapes within
     JOBSTREAM_MAX_QUERY_COST, measured here; 32 connections from 127.0.0.1 (a separate
     process, so the normal client's timing is not its event loop's) send it in a closed
     loop, ignoring Retry-After, either the same text each time (its data cached: the
     cost is building 5,000 objects) or a new one each time (every search and similar
     list a cache miss); a normal client from 127.0.0.2 sends a cached search at
     ``--normal-rate`` a second. Once against limits off, once against the defaults.

Run (one benchmark at a time on a shared machine; about 6 minutes)::

    .venv/bin/python tests/bench/bench_ratelimit.py        # -> results/ratelimit.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from graphql import parse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.graphql.cost import query_cost  # noqa: E402
from api.graphql.schema import build_schema  # noqa: E402
from api.ratelimit import CLIENT_STATE, RateLimiter  # noqa: E402
from schemas.auth import KeyRing  # noqa: E402
from schemas.ratelimit import Rate, TokenBuckets  # noqa: E402
from schemas.settings import Settings, load_settings  # noqa: E402
from tests.bench.bench_api import body, load_corpus, query_texts, wait_healthy  # noqa: E402
from tests.bench.bench_e2e import make_postings  # noqa: E402
from tests.bench.bench_limits import measure_cost_check  # noqa: E402
from tests.support.bench import (  # noqa: E402
    Child,
    copy_rows,
    git_commit,
    latency_ms,
    machine,
    write_result,
)
from tests.support.provision import free_port, local_stack  # noqa: E402

PYTHON = sys.executable
DEFAULT_OUT = ROOT / "tests" / "bench" / "results" / "ratelimit.json"
TARGET_OVERHEAD_MS = 0.1
TARGET_THROUGHPUT_LOSS = 0.05
TARGET_P99_MS = 50.0
HOSTILE = 32
TOKEN = "bench-publish-token"
UNREACHABLE = "1000000/s burst 1000000"
JSON = {"content-type": "application/json"}

# Shapes of a costly document, each sized to the largest cost the default limit allows.
NESTED = """query H($q: String!) {
  a: search(query: $q, first: 30) { edges { node { id similar(first: 8) {
    node { id similar(first: 8) { node { id } } } } } } }
  b: search(query: $q, first: 30) { edges { node { id similar(first: 8) {
    node { id } } } } }
  c: search(query: $q, first: 30) { edges { node { id title } } }
}"""
WIDE = (
    "query H($q: String!) {"
    + "".join(  # ten searches of the same text that share no cache entry (their pages differ)
        f" a{i}: search(query: $q, first: {100 - i})"
        " { edges { node { id similar(first: 1) { node { id } } } } }"
        for i in range(10)
    )
    + " }"
)
PAGES = """query H($q: String!) {
  search(query: $q, first: 99) { edges { cursor score node { id title company city
    similar(first: 24) { score node { id title } } } } pageInfo { hasNextPage endCursor } }
}"""
SHAPES = {"nested": NESTED, "wide": WIDE, "pages": PAGES}


def shape_costs() -> dict[str, int]:
    """Each shape's cost, checked against the default limit."""
    schema = build_schema()._schema
    limit = Settings.model_construct().max_query_cost
    costs = {}
    for name, doc in SHAPES.items():
        cost = query_cost(schema, parse(doc), None, {"q": "x"}, max_page=100)
        assert cost is not None, name
        assert cost <= limit, (name, cost)
        costs[name] = cost
    return costs


# --- 1. in process -----------------------------------------------------------------------


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    """Median of 5 rounds, in microseconds per call."""
    rounds = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls // 5):
            fn()
        rounds.append((time.perf_counter() - t) / (calls // 5) * 1e6)
    return round(statistics.median(rounds), 3)


def in_process(calls: int) -> dict[str, Any]:
    settings = load_settings(
        api_rate_limit_per_address=UNREACHABLE,
        api_rate_limit_per_key=UNREACHABLE,
        api_max_inflight_per_address=1_000_000,
        api_max_inflight_per_key=1_000_000,
        ingest_token=TOKEN,
    )
    limiter = RateLimiter(settings)
    limiter.keys = KeyRing(settings, "bench")  # the bootstrap token needs no Kafka
    headers = [(b"host", b"api"), (b"content-type", b"application/json"), (b"accept", b"*/*")]
    anonymous: Any = {"type": "http", "client": ("203.0.113.7", 5), "headers": headers}
    keyed: Any = {
        **anonymous,
        "headers": [*headers, (b"authorization", f"Bearer {TOKEN}".encode())],
    }
    assert limiter.check(keyed) is None

    def admit(scope: Any) -> Callable[[], None]:
        def decide() -> None:  # what the middleware does around a request
            client = limiter.client(scope)
            assert limiter.take(client, 1.0) is None
            assert limiter.enter(client) is None
            limiter.leave(client)

        return decide

    billed: Any = {**anonymous, "state": {CLIENT_STATE: limiter.client(anonymous)}}
    buckets = TokenBuckets(Rate(1e6, 1_000_000), max_clients=100_000)
    rotating = [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(100_000)]
    it = iter(range(10**9))
    return {
        "calls": calls,
        "bucket_take_us": per_call_us(lambda: buckets.take("203.0.113.7"), calls),
        "bucket_take_rotating_addresses_us": per_call_us(
            lambda: buckets.take(rotating[next(it) % len(rotating)]), calls
        ),
        "middleware_anonymous_us": per_call_us(admit(anonymous), calls),
        "middleware_with_key_us": per_call_us(admit(keyed), calls),
        "charge_cost_21_us": per_call_us(lambda: limiter.charge(billed, 21), calls),
        "charge_cost_4983_us": per_call_us(lambda: limiter.charge(billed, 4983), calls),
        "cost_check": measure_cost_check(),
    }


# --- 2. on the stack ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def api_process(home: Path, name: str, limits: dict[str, str]) -> AsyncIterator[str]:
    """An API process with these limits; yields its /graphql URL once healthy."""
    port = free_port()
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
    child = Child(f"api-{name}-{port}", [PYTHON, "-m", "api"], env, logs)
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as probe:
            await wait_healthy(probe, base, child)
        yield f"{base}/graphql"
    finally:
        child.stop()


def session_from(address: str, limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=limit)
    return aiohttp.ClientSession(connector=connector)


async def closed_loop(
    session: aiohttp.ClientSession,
    url: str,
    payload: Callable[[], bytes],
    *,
    concurrency: int,
    until: Callable[[], bool],
    honour: bool = False,
) -> dict[str, Any]:
    """``concurrency`` tasks sending at once again (after a 429's Retry-After only when
    ``honour``); latencies of 200s without errors, counts by status (a 200 carrying
    GraphQL errors apart)."""
    times: list[float] = []
    statuses: dict[str, int] = {}

    async def worker() -> None:
        while not until():
            t = time.perf_counter()
            async with session.post(url, data=payload(), headers=JSON) as r:
                answer = await r.read()
            status = f"{r.status} with errors" if b'"errors"' in answer else str(r.status)
            statuses[status] = statuses.get(status, 0) + 1
            if status == "200":
                times.append(time.perf_counter() - t)
            elif honour and r.status == 429:
                await asyncio.sleep(float(r.headers.get("retry-after", 1)))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "concurrency": concurrency,
        "req_per_s": round(sum(statuses.values()) / elapsed, 1),
        "ok_per_s": round(len(times) / elapsed, 1),
        "statuses": dict(sorted(statuses.items())),
        **latency_ms(times),
    }


def for_seconds(duration: float) -> Callable[[], bool]:
    stop_at = time.perf_counter() + duration
    return lambda: time.perf_counter() >= stop_at


async def paced(
    session: aiohttp.ClientSession, url: str, payload: bytes, *, rate: float, duration: float
) -> dict[str, Any]:
    """One client sending every 1/rate s (at once when late) for ``duration`` s: every
    request's latency."""
    times: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    for i in itertools.count():
        due = start + i / rate
        if due - start >= duration or time.perf_counter() - start >= duration:
            break  # on schedule, or out of time when answers come late
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        t = time.perf_counter()
        async with session.post(url, data=payload, headers=JSON) as r:
            await r.read()
            statuses[r.status] = statuses.get(r.status, 0) + 1
        times.append(time.perf_counter() - t)
    return {
        "rate": rate,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        **latency_ms(times),
    }


HOSTILE_KINDS = {  # name: (a new search text each time, honours Retry-After)
    "same_text": (False, False),
    "new_text_each_time": (True, False),
    "new_text_honouring_retry_after": (True, True),
}


def hostile_process(
    url: str, doc: str, text: str, kind: str, started: Event, stop: Event, out: Any
) -> None:
    """The hostile client, in its own process: HOSTILE connections in a closed loop."""
    fresh, honour = HOSTILE_KINDS[kind]
    counter = itertools.count()

    def payload() -> bytes:
        q = f"{text} {next(counter)}" if fresh else text
        return json.dumps({"query": doc, "variables": {"q": q}}).encode()

    async def run() -> dict[str, Any]:
        async with session_from("127.0.0.1", HOSTILE) as bad:
            started.set()
            return await closed_loop(
                bad, url, payload, concurrency=HOSTILE, until=stop.is_set, honour=honour
            )

    out.put(asyncio.run(run()))


async def costliest(url: str, texts: list[str]) -> dict[str, Any]:
    """Each shape's uncached latency (median of 3 new texts, alone); the slowest wins."""
    ms: dict[str, float] = {}
    errors: list[str] = []
    async with session_from("127.0.0.2", 1) as s:
        for name, doc in SHAPES.items():
            runs = []
            for i in range(3):
                payload = json.dumps({"query": doc, "variables": {"q": f"{texts[i]} {name}"}})
                t = time.perf_counter()
                async with s.post(url, data=payload, headers=JSON) as r:
                    answer = await r.json()
                runs.append((time.perf_counter() - t) * 1e3)
                assert r.status == 200, answer
                for error in answer.get("errors", ()):  # a busy pool: slow all the same
                    errors.append(f"{name}: {error['message']}")
            ms[name] = round(statistics.median(runs), 1)
    slowest = max(ms, key=ms.__getitem__)
    return {"uncached_ms": ms, "costs": shape_costs(), "chosen": slowest, "errors": errors}


async def hostile_mix(
    url: str, doc: str, text: str, normal: bytes, kind: str, args: argparse.Namespace
) -> dict[str, Any]:
    spawn = multiprocessing.get_context("spawn")
    started, stop, out = spawn.Event(), spawn.Event(), spawn.Queue()
    child = spawn.Process(
        target=hostile_process, args=(url, doc, text, kind, started, stop, out), daemon=True
    )
    child.start()
    try:
        async with session_from("127.0.0.2", 1) as good:
            async with good.post(url, data=normal, headers=JSON) as r:  # cached from here
                assert r.status == 200, await r.text()
            assert await asyncio.to_thread(started.wait, 60), "the hostile client did not start"
            await asyncio.sleep(2.0)  # the hostile load at full swing
            result = await paced(good, url, normal, rate=args.normal_rate, duration=args.duration)
        stop.set()
        hostile = await asyncio.to_thread(out.get, True, 60)
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.terminate()
    return {"hostile": hostile, "normal": result}


async def throughput_ab(
    urls: dict[str, str], payload: bytes, args: argparse.Namespace
) -> dict[str, Any]:
    """Alternating rounds of c=32 against each API; medians and their ratio."""
    rounds: dict[str, list[float]] = {name: [] for name in urls}
    runs: list[dict[str, Any]] = []
    async with session_from("127.0.0.1", 64) as s:
        for url in urls.values():  # warm each one's caches
            await closed_loop(s, url, lambda: payload, concurrency=4, until=for_seconds(2))
        for r in range(args.rounds):
            order = list(urls) if r % 2 == 0 else list(reversed(urls))
            for name in order:
                result = await closed_loop(
                    s, urls[name], lambda: payload, concurrency=32, until=for_seconds(args.duration)
                )
                rounds[name].append(result["ok_per_s"])
                runs.append({"round": r, "limits": name, **result})
                print(f"throughput round {r}, limits {name}:", result["ok_per_s"], "req/s")
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    return {
        "ok_per_s_by_round": rounds,
        "median_ok_per_s": medians,
        "change": round(medians["on"] / medians["off"] - 1, 3),
        "runs": runs,
    }


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
        "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS": "0",
        "JOBSTREAM_API_MAX_INFLIGHT_PER_KEY": "0",
    }
    on = {
        "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS": UNREACHABLE,
        "JOBSTREAM_API_RATE_LIMIT_PER_KEY": UNREACHABLE,
        "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS": "1000000",
        "JOBSTREAM_API_MAX_INFLIGHT_PER_KEY": "1000000",
    }
    default = Settings.model_construct()
    defaults = {
        "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS": str(default.api_rate_limit_per_address),
        "JOBSTREAM_API_RATE_LIMIT_PER_KEY": str(default.api_rate_limit_per_key),
        "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS": str(default.api_max_inflight_per_address),
        "JOBSTREAM_API_MAX_INFLIGHT_PER_KEY": str(default.api_max_inflight_per_key),
        "JOBSTREAM_QUERY_COST_PER_TOKEN": str(default.query_cost_per_token),
        "JOBSTREAM_API_REFUSAL_DELAY_S": str(default.api_refusal_delay_s),
    }
    out["defaults"] = defaults
    if "throughput" in args.phases:
        async with (
            api_process(home, "off", off) as url_off,
            api_process(home, "on", on) as url_on,
        ):
            out["throughput"] = await throughput_ab({"off": url_off, "on": url_on}, cached, args)
    if "hostile" not in args.phases:
        return out
    async with api_process(home, "off", off) as url_off:
        out["hostile_document"] = shape = await costliest(url_off, texts[10:])
        print("hostile document:", shape)
    doc = SHAPES[shape["chosen"]]
    for name, limits in (("limits_off", off), ("default_limits", defaults)):
        if name not in args.limits:
            continue
        async with api_process(home, name, limits) as url:
            async with session_from("127.0.0.2", 1) as good:  # the control: no hostile load
                await closed_loop(good, url, lambda: cached, concurrency=1, until=for_seconds(1))
                alone = await paced(
                    good, url, cached, rate=args.normal_rate, duration=args.duration
                )
            out[f"normal_alone_{name}"] = alone
            print(f"normal client alone, {name}:", alone)
        for kind, (_, honour) in HOSTILE_KINDS.items():
            if honour and name == "limits_off":
                continue  # nothing is refused: the same as new_text_each_time
            async with api_process(home, name, limits) as url:  # fresh buckets and caches
                result = await hostile_mix(url, doc, texts[1], cached, kind, args)
            out[f"hostile_mix_{kind}_{name}"] = result
            print(f"hostile mix, {kind}, {name}:", result["normal"], result["hostile"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="postings in the table")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load phase")
    parser.add_argument("--rounds", type=int, default=4, help="throughput rounds per side")
    parser.add_argument("--normal-rate", type=float, default=40.0, help="normal client req/s")
    parser.add_argument("--calls", type=int, default=200_000, help="in-process calls")
    parser.add_argument(
        "--phases", default="throughput,hostile", help="stack phases to run (comma-separated)"
    )
    parser.add_argument(
        "--limits",
        default="limits_off,default_limits",
        help="hostile mix against (comma-separated)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    load_start = os.getloadavg()[0]  # other work on the machine: the figures' noise
    result: dict[str, Any] = {"in_process": in_process(args.calls)}
    print("in process:", result["in_process"])
    with (
        tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as home,
        local_stack(Path(home)) as settings,
    ):
        result.update(asyncio.run(stack_phases(settings, Path(home), args)))
    ip = result["in_process"]
    limiter_us = max(ip["middleware_anonymous_us"], ip["middleware_with_key_us"]) + max(
        ip["charge_cost_21_us"], ip["charge_cost_4983_us"]
    )
    cost = ip["cost_check"]
    result["targets"] = {
        "rate_limiter_overhead_ms": {"target": TARGET_OVERHEAD_MS, "measured": limiter_us / 1e3},
        "cost_check_overhead_ms": {
            "target": TARGET_OVERHEAD_MS,
            "cached_document": max(v for k, v in cost.items() if k.endswith("_cached_us")) / 1e3,
            "new_document": max(v for k, v in cost.items() if k.endswith("_walk_us")) / 1e3,
        },
        "throughput_change": {
            "target": -TARGET_THROUGHPUT_LOSS,
            "measured": result.get("throughput", {}).get("change"),
        },
        "normal_p99_ms_alone": {
            key.removeprefix("normal_alone_"): value["p99_ms"]
            for key, value in result.items()
            if key.startswith("normal_alone_")
        },
        "normal_p99_ms_under_hostile_mix": {
            "target": TARGET_P99_MS,
            **{
                key.removeprefix("hostile_mix_"): value["normal"]["p99_ms"]
                for key, value in result.items()
                if key.startswith("hostile_mix_")
            },
        },
    }
    result["load_average_1m"] = {"start": load_start, "end": os.getloadavg()[0]}
    result["args"] = vars(args) | {"out": str(args.out)}
    result["commit"] = git_commit()
    result["machine"] = machine(wall_s=round(time.perf_counter() - started, 1))
    write_result(args.out, result)


if __name__ == "__main__":
    main()
