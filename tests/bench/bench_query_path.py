"""Query path with the default embedder: uncached HYBRID / SEMANTIC / KEYWORD, Zipf mix, cached.

Issue #12, item 7: "Measure with the default embedder from now on. Targets on our 2 cores:
uncached hybrid search p95 <= 30 ms at 100,000 postings (embedding included), the Zipf mix
>= 1,000 req/s with p99 <= 100 ms, cached throughput unchanged (>= 2,000 req/s with 2
processes)."

bench_api.py measures the API on the hashing embedder; this bench runs the API on the
default embedder (``Settings().embedder``, multilingual-e5 once it is the default;
``--embedder`` overrides), so every query text that misses the embedding cache is embedded
by the real model inside the API process, as in production.

The postings are COPYed (untimed) with the hashing embedder's vectors, *tagged with the
serving model's name*: embedding 100,000 postings with e5 takes far longer than the run, and
the latency of an IVFFlat probe and a GIN lookup does not depend on what the vectors mean,
only on their count and dimension. The ranking's quality is not measured here (that is
bench_relevance.py, on real e5 vectors); recall of the index is bench_api.py / bench_index.py.

Phases, against ``python -m api --workers W`` (W = ``--workers``, 2 by default), with
``OMP_NUM_THREADS`` per process from ``--omp-threads`` (else the API's own: cores / W):

1. uncached latency, sequential, unique query texts (every text misses the embedding and
   page caches): ``--rounds`` rounds, each running every mode on its own texts, the order of
   the modes rotating between rounds (A/B/C alternation on a shared machine); per mode the
   percentiles over all rounds and the median of the per-round p50 and p95;
2. Zipf mix (s = 1.1) over ``--zipf-distinct`` texts none of which was asked before, HYBRID,
   concurrency 32, ``--zipf-duration`` s: req/s and percentiles over the whole run;
3. cached throughput: 16 hot HYBRID queries at concurrency 32 for ``--duration`` s;
4. cross-check: ``hey`` (if installed) on one cached query at c=32, alternated with our own
   closed loop on the same query (``--cross-rounds`` pairs, medians).

The Zipf and hot texts come from ``tests/load/queries.json``, which the k6 scripts read
too. ``--url`` runs phase 3 alone against an API already running (no stack of its own):
``make load`` uses it to set our closed loop beside k6's on the same stack.

Run (one bench at a time; about 4 minutes)::

    .venv/bin/python tests/bench/bench_query_path.py          # -> results/query_path.json
    .venv/bin/python tests/bench/bench_query_path.py --embedder hash --out /tmp/qp-hash.json
    .venv/bin/python tests/bench/bench_query_path.py --url http://127.0.0.1:8100 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.search import lexical  # noqa: E402
from api.search.ranking import query_words  # noqa: E402
from api.search.vectors import to_pgvector_text  # noqa: E402
from schemas.embedding import make_embedder  # noqa: E402
from schemas.search.filters import PostingFilter  # noqa: E402
from schemas.settings import Settings, load_settings  # noqa: E402
from streams.index import VectorIndexManager  # noqa: E402
from tests.bench.bench_api import (  # noqa: E402
    Api,
    CpuMeter,
    api_server,
    closed_loop,
    load_corpus,
    query_texts,
    sequential,
    wait_for_quiet,
    wait_healthy,
    zipf_indices,
)
from tests.bench.bench_e2e import make_postings  # noqa: E402
from tests.load import queries as shared  # noqa: E402
from tests.support.bench import (  # noqa: E402
    COPY_COLUMNS,
    copy_rows,
    git_commit,
    latency_ms,
    machine,
    write_result,
)
from tests.support.provision import free_port  # noqa: E402

DIM = 384
SEED = 1
HOT = 16
MODES = ("HYBRID", "SEMANTIC", "KEYWORD")
DEFAULT_OUT = ROOT / "tests" / "bench" / "results" / "query_path.json"
TARGETS = {
    "uncached_hybrid_p95_ms": 30.0,
    "zipf_req_per_s": 1000.0,
    "zipf_p99_ms": 100.0,
    "cached_req_per_s": 2000.0,
}
SEARCH_DOC = shared.SEARCH_DOC
console = Console()


def body(text: str, mode: str = "HYBRID") -> bytes:
    return json.dumps({"query": SEARCH_DOC, "variables": {"q": text, "m": mode}}).encode()


def served_rows(n: int, model: str) -> list[tuple[Any, ...]]:
    """Generated postings with hashing vectors, filed under ``model`` (see the docstring)."""
    events, _ = make_postings(n, SEED)
    at = COPY_COLUMNS.index("embedding_model")
    return [(*row[:at], model, *row[at + 1 :]) for row in copy_rows(events, DIM)]


async def uncached_rounds(
    api: Api, texts: list[str], rounds: int, per_round: int, progress: Progress
) -> dict[str, Any]:
    """Every mode on its own unique texts in each round; the modes' order rotates."""
    times: dict[str, list[float]] = {m: [] for m in MODES}
    per: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    cursor = 0
    for r in range(rounds):
        order = MODES[r % 3 :] + MODES[: r % 3]
        for mode in order:
            part = texts[cursor : cursor + per_round]
            cursor += per_round
            t, _ = await sequential(
                api, [body(x, mode) for x in part], progress, f"1 round {r + 1} {mode}"
            )
            times[mode] += t
            per[mode].append(latency_ms(t))
    out: dict[str, Any] = {}
    for mode in MODES:
        out[mode] = {
            **latency_ms(times[mode]),
            "median_of_round_p50_ms": round(statistics.median(x["p50_ms"] for x in per[mode]), 2),
            "median_of_round_p95_ms": round(statistics.median(x["p95_ms"] for x in per[mode]), 2),
            "rounds": per[mode],
        }
    return out


async def post_again(api: Api, payload: bytes) -> None:
    """One request, sent again once if the server had closed the kept-alive connection."""
    try:
        await api.post(payload)
    except aiohttp.ClientOSError:
        await api.post(payload)


def hey_run(url: str, payload: bytes, seconds: float, concurrency: int) -> dict[str, Any]:
    """``hey`` on one request; its req/s and percentiles as it prints them."""
    exe = shutil.which("hey")
    if exe is None:
        return {"skipped": "hey not installed (apt-get install hey)"}
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(payload)
    try:
        cmd = [exe, "-z", f"{seconds:g}s", "-c", str(concurrency), "-m", "POST"]
        cmd += ["-T", "application/json", "-D", f.name, url]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 60)
    finally:
        os.unlink(f.name)
    text = run.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out: dict[str, Any] = {
        "command": " ".join([*cmd[:-3], "-D", "<one cached search>", "<url>"]),
        "req_per_s": float(rps.group(1)) if rps else None,
        "status_codes": re.findall(r"\[(\d{3})\]\s+(\d+) responses", text),
    }
    for q, secs in re.findall(r"\s(\d+)%+ in ([\d.]+) secs", text):
        if q in ("50", "95", "99"):
            out[f"p{q}_ms"] = round(float(secs) * 1e3, 2)
    return out


async def bench(
    settings: Settings, home: Path, args: argparse.Namespace, texts: list[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with console.status("COPY into postings, IVFFlat via VectorIndexManager.check()"):
        out["corpus"] = await load_corpus(settings, served_rows(args.n, args.model))
    console.print(f"corpus: {out['corpus']}")
    listed = shared.load()
    zipf_texts, hot = listed["zipf"]["texts"][: args.zipf_distinct], listed["hot"][:HOT]
    taken = set(zipf_texts) | set(hot)
    texts = [t for t in texts if t not in taken]  # uncached texts are asked once only
    need = 30 + args.rounds * 3 * args.per_round
    if len(texts) < need:
        raise RuntimeError(f"{len(texts)} distinct query texts, {need} needed")
    warm, texts = texts[:30], texts[30:]
    unc_n = args.rounds * 3 * args.per_round
    uncached = texts[:unc_n]

    env = {"JOBSTREAM_EMBEDDER": args.embedder}
    if args.omp_threads:
        env["OMP_NUM_THREADS"] = str(args.omp_threads)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with api_server(home, port, args.workers, env) as child:
        meter = CpuMeter(child.proc.pid, home)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60)
        ) as session:
            await wait_healthy(session, base, child)
            api = Api(session, base)
            progress = Progress(
                TextColumn("{task.description:<30}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            with progress:
                # both processes: imports, pools, the model's first calls, first plans
                for mode in MODES:
                    await sequential(api, [body(t, mode) for t in warm], progress, f"warm {mode}")
                out["uncached"] = await uncached_rounds(
                    api, uncached, args.rounds, args.per_round, progress
                )

                draws = zipf_indices(
                    args.max_requests, len(zipf_texts), 1.1, np.random.default_rng(23)
                )
                zipf_payloads = [body(t) for t in zipf_texts]
                zipf = await closed_loop(
                    api,
                    lambda i: zipf_payloads[int(draws[i])],
                    concurrency=32,
                    duration=args.zipf_duration,
                    max_requests=args.max_requests,
                    progress=progress,
                    label="2 Zipf mix, HYBRID, c=32",
                    meter=meter,
                )
                sent = int(zipf["requests"])
                zipf["distinct_texts"] = len(zipf_texts)
                zipf["distinct_seen"] = len(set(draws[:sent].tolist()))
                zipf["starts"] = "cold: no Zipf text was asked before"
                out["zipf"] = zipf

                hot_payloads = [body(t) for t in hot]
                for p in hot_payloads:
                    await post_again(api, p)
                    await post_again(api, p)  # each of the 2 processes' L1 (or L2 at worst)
                out["cached"] = await closed_loop(
                    api,
                    lambda i: hot_payloads[i % HOT],
                    concurrency=32,
                    duration=args.duration,
                    max_requests=args.max_requests,
                    progress=progress,
                    label="3 cached, HYBRID, c=32",
                    meter=meter,
                )

                one = hot_payloads[0]
                pairs = []
                for r in range(args.cross_rounds):  # alternated: the machine's load drifts
                    ours = await closed_loop(
                        api,
                        lambda i: one,
                        concurrency=32,
                        duration=args.hey_duration,
                        max_requests=args.max_requests,
                        progress=progress,
                        label=f"4 cached, one query, c=32 ({r + 1})",
                    )
                    theirs = await asyncio.to_thread(
                        hey_run, f"{base}/graphql", one, args.hey_duration, 32
                    )
                    keep = ("req_per_s", "p50_ms", "p95_ms", "p99_ms")
                    pairs.append({"ours": {k: ours[k] for k in keep}, "hey": theirs})
            out["cross_check"] = {
                "what": "one cached HYBRID search at c=32: our aiohttp closed loop and hey,"
                " alternated, each for --hey-duration s",
                "rounds": pairs,
                "median_req_per_s": {
                    tool: statistics.median(p[tool].get("req_per_s") or 0.0 for p in pairs)
                    for tool in ("ours", "hey")
                },
            }
            console.print(f"cross-check: {out['cross_check']}")
        out["api_exit_code"] = child.stop()
        out["api_log_tail"] = child.tail(5)
    out["where_time_goes"] = await where_time_goes(
        settings, uncached[:: len(uncached) // 6], args.model
    )
    return out


async def cached_against(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Phase 3 alone against a running API (``--url``): the same hot texts and closed loop,
    so ``make load`` can set this figure beside k6's cached scenario on the same stack."""
    payloads = [body(t) for t in shared.load()["hot"][:HOT]]
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        api = Api(session, url.rstrip("/"))
        for p in payloads:
            await post_again(api, p)
            await post_again(api, p)
        cpu = time.process_time()
        out = await closed_loop(
            api,
            lambda i: payloads[i % HOT],
            concurrency=args.concurrency,
            duration=args.duration,
            max_requests=args.max_requests,
            progress=None,
            label="cached",
        )
        cpu = time.process_time() - cpu  # this process: the load generator alone
        out["client_cpu_s"] = round(cpu, 2)
        out["client_cpu_us_per_req"] = round(cpu / max(1, out["requests"]) * 1e6, 1)
        return out


async def where_time_goes(settings: Settings, texts: list[str], model: str) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the KEYWORD and HYBRID statements for a few of the run's texts
    (the words as typed, without alias groups), beside how many postings they match."""
    embedder = make_embedder("hash", DIM)
    conn = await asyncpg.connect(settings.postgres_dsn)
    out: dict[str, Any] = {}
    try:
        state = await VectorIndexManager(settings.postgres_dsn).current(conn)
        if state is not None:
            await conn.execute(f"SET ivfflat.probes = {int(state.probes)}")
        for text in texts:
            words = [w.lower() for w in query_words(text)]
            vector = to_pgvector_text(embedder.embed([text])[0], DIM)
            statements = {
                "KEYWORD": lexical.keyword_search(PostingFilter(), words, None, 11),
                "HYBRID": lexical.hybrid_search(
                    PostingFilter(),
                    vector,
                    words,
                    None,
                    11,
                    window=200,
                    semantic_weight=0.5,
                    model=model,
                    index=True,
                ),
            }
            row: dict[str, Any] = {
                "lexical_matches": await conn.fetchval(
                    "SELECT count(*) FROM postings WHERE NOT deleted AND search_tsv @@"
                    " plainto_tsquery('english', $1)",
                    " ".join(words),
                )
            }
            for mode, (query, params) in statements.items():
                plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query, *params)
                lines = [r[0] for r in plan]
                ms = [float(x) for x in re.findall(r"Execution Time: ([\d.]+)", lines[-1])]
                row[f"{mode}_execution_ms"] = ms[0] if ms else None
                row[f"{mode}_plan_top"] = lines[:3]
            out[text] = row
    finally:
        await conn.close()
    return out


def report(result: dict[str, Any]) -> None:
    table = Table(title=f"query path at {result['n']:,} postings, {result['embedder']['model']}")
    for col in ("phase", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    for mode, r in result["uncached"].items():
        table.add_row(f"uncached {mode}", str(r["requests"]), "", *(str(r[k]) for k in _PCT))
    for name in ("zipf", "cached"):
        r = result[name]
        table.add_row(name, str(r["requests"]), f"{r['req_per_s']:,}", *(str(r[k]) for k in _PCT))
    console.print(table)
    console.print(f"targets met: {result['targets']['met']}")


_PCT = ("p50_ms", "p95_ms", "p99_ms")


def main() -> None:
    default = load_settings().embedder
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="postings in the table")
    parser.add_argument("--embedder", default=default, help=f"the API's (default: {default})")
    parser.add_argument("--workers", type=int, default=2, help="API server processes")
    parser.add_argument(
        "--omp-threads", type=int, default=0, help="OMP_NUM_THREADS; 0: the API's own choice"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-round", type=int, default=60, help="queries per mode and round")
    parser.add_argument("--zipf-distinct", type=int, default=500)
    parser.add_argument("--zipf-duration", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=15.0, help="cached phase, s")
    parser.add_argument("--hey-duration", type=float, default=6.0)
    parser.add_argument("--cross-rounds", type=int, default=3, help="ours/hey alternations")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="max s to wait for idle")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--url", default="", help="only the cached phase, against the API at this base URL"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="with --url")
    args = parser.parse_args()
    if args.url:
        cached = asyncio.run(cached_against(args.url, args))
        cached.update(url=args.url, git_commit=git_commit(), machine=machine())
        console.print(
            f"cached, {HOT} hot HYBRID queries, c={args.concurrency}: {cached['req_per_s']}"
            f" req/s, p99 {cached['p99_ms']} ms, errors {cached['errors']}"
        )
        write_result(args.out, cached, console.print)
        return
    args.model = make_embedder(args.embedder, DIM).name

    from tests.support.provision import local_stack

    started = time.perf_counter()
    texts = query_texts(np.random.default_rng(5))
    with console.status(f"waiting up to {args.quiet_wait:.0f} s for an idle machine"):
        quiet = wait_for_quiet(args.quiet_wait)
    console.print(f"machine before the stack: {quiet}")
    load_before = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="bench-qp-") as home,
        local_stack(Path(home)) as settings,
    ):
        result = asyncio.run(bench(settings, Path(home), args, texts))
    load_after = os.getloadavg()
    hybrid, zipf, cached = result["uncached"]["HYBRID"], result["zipf"], result["cached"]
    met = {
        "uncached_hybrid_p95": hybrid["p95_ms"] <= TARGETS["uncached_hybrid_p95_ms"],
        "zipf_req_per_s": zipf["req_per_s"] >= TARGETS["zipf_req_per_s"],
        "zipf_p99": zipf["p99_ms"] <= TARGETS["zipf_p99_ms"],
        "cached_req_per_s": cached["req_per_s"] >= TARGETS["cached_req_per_s"],
    }
    result = {
        "what": "GraphQL search over HTTP (python -m api) with the serving embedder in the API"
        " process, n postings in PostgreSQL (IVFFlat + GIN), L1 + Redis caches",
        "n": args.n,
        "embedder": {
            "api": args.embedder,
            "model": args.model,
            "postings": "hashing-embedder vectors filed under the serving model's name:"
            " latency depends on the vectors' count and dimension, not their meaning",
        },
        "server": {
            "command": f"python -m api --workers {args.workers}",
            "omp_num_threads": args.omp_threads
            or "not set by the bench (api/cli.py: cores / workers when W > 1)",
        },
        "request": SEARCH_DOC,
        **result,
        "targets": {**TARGETS, "met": met},
        "machine": machine(
            idle_wait_before_start=quiet,
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
