"""``make load``: the k6 suite against the demo stack, and k6 set beside our Python bench.

Expects ``make demo`` to have run: its stack (Kafka, PostgreSQL, Redis, workers) with
postings, its API answering on JOBSTREAM_API_PORT (8000) and its publish key in
JOBSTREAM_HOME/keys/demo.token. It does not start the stack itself; when the API does not
answer it says to run ``make demo``.

The demo's API has the production rate limits (50 req/s and 4 requests in flight per
address), so 32 virtual users from one address would measure the limiter's 429s. The run
therefore starts a second API on the demo's stack, ``python -m api --workers 2`` on
JOBSTREAM_LOAD_API_PORT (the demo's port + 100) with the limits off -- as the Python benches
run theirs -- and stops it at the end (``--url`` points at an API of your own instead).

Scenarios (tests/load/*.js, each ``--duration`` s; k6 writes ``--summary-export`` files
to tests/bench/results/load-<scenario>.json; the cached one is its last run's): cached
search, a Zipf mix on the API's own embedder, publishPosting, and the web pages. The cached
scenario alternates with bench_query_path's cached phase (``--url``: the same texts and
concurrency, the same API), k6, Python, Python, k6; both figures and their ratio go to
tests/bench/results/load.json (the issue: within 15 %).

Exit status: 0 when every threshold held and the two agree within 15 %, else 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from schemas.auth.keys import key_file  # noqa: E402
from schemas.settings import load_settings  # noqa: E402
from tests.support.bench import git_commit, machine, write_result  # noqa: E402

K6 = ROOT / ".tools" / "bin" / "k6"
HERE = Path(__file__).resolve().parent
RESULTS = ROOT / "tests" / "bench" / "results"
SCENARIOS = ("cached", "zipf", "web", "mutations")  # writes last: they bump the generation
SCRIPTS = {
    "cached": "cached_search.js",
    "zipf": "zipf_search.js",
    "mutations": "mutations.js",
    "web": "web.js",
}
AGREEMENT = 0.15  # issue #15: k6 and the Python bench within 15 %
# issue #12's query-path targets, recorded beside the figures (not k6 thresholds: the
# thresholds guard the measured figures, and these are known misses)
TARGETS = {"cached_req_per_s": 2000.0, "zipf_req_per_s": 1000.0, "zipf_p99_ms": 100.0}
NO_LIMITS = {
    "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS": "off",
    "JOBSTREAM_API_RATE_LIMIT_PER_KEY": "off",
    "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS": "0",
    "JOBSTREAM_API_MAX_INFLIGHT_PER_KEY": "0",
}


def get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """Status and body of a GET; (0, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, ValueError):
        return 0, b""


def fail(message: str) -> None:
    print(f"make load: {message}", file=sys.stderr)
    raise SystemExit(2)


def demo_preflight(base: str, home: Path) -> tuple[int, str]:
    """The demo's API answers and holds postings, and its publish key is on disk."""
    status, _ = get(f"{base}/health")
    if status != 200:
        fail(
            f"no JobStream API answers at {base}/health. Run `make demo` first (it starts "
            "the stack and streams 10,000 postings), or set JOBSTREAM_API_PORT to the "
            "port of yours."
        )
    status, body = get(f"{base}/web/count")
    count = int(json.loads(body)["count"]) if status == 200 else 0
    if count == 0:
        fail(f"the API at {base} has no postings yet: run `make demo` (or wait for it).")
    token = key_file(home, "demo")
    if not token.is_file():
        fail(f"no publish key at {token}: run `jobstream keys demo` (make demo does).")
    return count, token.read_text().strip()


class LoadApi:
    """``python -m api --workers W`` on the demo's stack with the rate limits off."""

    def __init__(self, port: int, workers: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            **NO_LIMITS,
            "JOBSTREAM_API_HOST": "127.0.0.1",
            "JOBSTREAM_API_PORT": str(port),
            "JOBSTREAM_LOG_LEVEL": "WARNING",
        }
        if get(f"{self.url}/health")[0]:
            fail(f"port {port} is taken; set JOBSTREAM_LOAD_API_PORT or pass --url")
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api", "--workers", str(workers)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while get(f"{self.url}/health")[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                fail(f"the load API did not start; its log: {log}")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to the uvicorn parent (it stops its workers), SIGKILL after 20 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def children_cpu_s() -> float:
    """CPU seconds (user + system) of every finished child so far: a client's cost per
    request is the difference around its run (both clients share the cores with the API)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def with_client_cpu(result: dict[str, Any], cpu_s: float) -> dict[str, Any]:
    result["client_cpu_s"] = round(cpu_s, 2)
    if result.get("requests"):
        result["client_cpu_us_per_req"] = round(cpu_s / result["requests"] * 1e6, 1)
    return result


def k6_version() -> str:
    return subprocess.run([K6, "version"], capture_output=True, text=True).stdout.strip()


def run_k6(name: str, env: dict[str, str]) -> dict[str, Any]:
    """One script; its summary export, condensed: req/s, latency, errors, thresholds."""
    out = RESULTS / f"load-{name}.json"
    cmd = [str(K6), "run", "--quiet", "--no-color", "--summary-export", str(out)]
    cmd.append(str(HERE / SCRIPTS[name]))
    print(f"k6 {name}: {' '.join(cmd[1:])}", flush=True)
    cpu = children_cpu_s()
    run = subprocess.run(cmd, env={**os.environ, **env}, cwd=HERE, check=False)
    cpu = children_cpu_s() - cpu
    if not out.is_file():
        return {"k6_exit_code": run.returncode, "error": "k6 wrote no summary"}
    result = {"k6_exit_code": run.returncode, **condense(json.loads(out.read_text()), env)}
    return with_client_cpu(result, cpu)


def condense(summary: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """The figures that matter from k6's summary export (``metric{tag:value}`` keys are
    the tagged sub-metrics that thresholds name)."""
    metrics: dict[str, Any] = summary["metrics"]
    seconds = float(env["DURATION"].rstrip("s"))
    timed = "http_req_duration{phase:load}"
    trend = metrics.get(timed) or metrics["http_req_duration"]
    counted = metrics.get("http_reqs{phase:load}") or metrics.get("http_reqs", {})
    requests = int(counted.get("count", 0))
    out: dict[str, Any] = {
        "requests": requests,
        "req_per_s": round(requests / seconds, 1),
        **{f"{k}_ms": round(float(trend[k]), 2) for k in ("med", "p(95)", "p(99)", "max")},
        "http_req_failed_rate": metrics.get("http_req_failed", {}).get("value"),
        "graphql_errors_rate": metrics.get("graphql_errors", {}).get("value"),
    }
    for page in ("home", "search", "posting"):
        sub = metrics.get(f"http_req_duration{{page:{page}}}")
        if sub:
            out[f"{page}_p99_ms"] = round(float(sub["p(99)"]), 2)
            out[f"{page}_med_ms"] = round(float(sub["med"]), 2)
    # The legacy summary export marks each threshold with whether it *failed*.
    thresholds = {
        f"{name} {rule}": not failed
        for name, metric in metrics.items()
        for rule, failed in (metric.get("thresholds") or {}).items()
    }
    out["thresholds_held"] = thresholds
    out["passed"] = all(thresholds.values())
    return out


def python_cached(url: str, vus: int, seconds: float) -> dict[str, Any]:
    """bench_query_path's cached phase against the same API (``--url``)."""
    out = RESULTS / "load-python-cached.json"
    cmd = [sys.executable, str(ROOT / "tests" / "bench" / "bench_query_path.py"), "--url", url]
    cmd += ["--duration", f"{seconds:g}", "--concurrency", str(vus), "--out", str(out)]
    print(f"python cached: {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    return result  # with its own client_cpu_s (the loop's, not the interpreter's start)


def cached_agreement(
    url: str, env: dict[str, str], args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """k6's cached scenario and the Python bench's, alternated ABBA (k6, Python, Python, k6,
    ...; ``--rounds`` pairs of ``--duration / rounds`` s each) so a drifting machine load
    weighs on both alike; each tool's req/s is its requests over its seconds."""
    per_run = args.duration / args.rounds
    k6_runs: list[dict[str, Any]] = []
    py_runs: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for tool in ("k6", "python") if r % 2 == 0 else ("python", "k6"):
            if tool == "k6":
                k6_runs.append(run_k6("cached", {**env, "DURATION": f"{per_run:g}s"}))
            else:
                py_runs.append(python_cached(url, args.vus, per_run))
    seconds = per_run * args.rounds
    k6_rps = round(sum(x["requests"] for x in k6_runs) / seconds, 1)
    py_rps = round(sum(x["requests"] for x in py_runs) / seconds, 1)
    cached = {
        "requests": sum(x["requests"] for x in k6_runs),
        "req_per_s": k6_rps,
        "med_ms": round(statistics.mean(x["med_ms"] for x in k6_runs), 2),
        "p(99)_ms": max(x["p(99)_ms"] for x in k6_runs),
        "graphql_errors_rate": max(x["graphql_errors_rate"] or 0 for x in k6_runs),
        "passed": all(x["passed"] for x in k6_runs),
        "runs": k6_runs,
    }
    ratio = round(k6_rps / py_rps, 3) if py_rps else None
    agreement = {
        "what": "the same 16 hot HYBRID searches (tests/load/queries.json), closed loop at the"
        f" same concurrency ({args.vus}), on the same API, alternated ABBA in"
        f" {args.rounds} rounds of {per_run:g} s per tool",
        "k6": {"req_per_s": k6_rps, "med_ms": cached["med_ms"], "p(99)_ms": cached["p(99)_ms"]},
        "python": {
            "req_per_s": py_rps,
            "med_ms": round(statistics.mean(x["p50_ms"] for x in py_runs), 2),
            "p(99)_ms": max(x["p99_ms"] for x in py_runs),
            "errors": sum(x["errors"] for x in py_runs),
        },
        "rounds": [
            {
                "k6_req_per_s": k["req_per_s"],
                "python_req_per_s": p["req_per_s"],
                "k6_client_cpu_us_per_req": k.get("client_cpu_us_per_req"),
                "python_client_cpu_us_per_req": p.get("client_cpu_us_per_req"),
            }
            for k, p in zip(k6_runs, py_runs, strict=True)
        ],
        "ratio_k6_over_python": ratio,
        "within_15_percent": ratio is not None and abs(ratio - 1) <= AGREEMENT,
    }
    return cached, agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="s per scenario")
    parser.add_argument("--vus", type=int, default=32, help="cached and Zipf concurrency")
    parser.add_argument(
        "--rounds", type=int, default=4, help="cached: k6/Python alternations (ABBA)"
    )
    parser.add_argument("--workers", type=int, default=2, help="load API processes")
    parser.add_argument("--url", default="", help="an API to load instead of starting one")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--out", type=Path, default=RESULTS / "load.json")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        fail(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    if not K6.is_file():
        fail(f"no k6 at {K6}: run `bash tests/load/install_k6.sh` (make load does)")

    settings = load_settings()
    demo = f"http://{settings.api_host}:{settings.api_port}"
    postings, token = demo_preflight(demo, settings.home)
    print(f"demo stack: {demo}, {postings:,} postings", flush=True)
    load_port = int(os.environ.get("JOBSTREAM_LOAD_API_PORT", settings.api_port + 100))
    api = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        print(f"starting the load API on :{load_port} ({args.workers} processes)", flush=True)
        api = LoadApi(load_port, args.workers, settings.home / "logs" / "load-api.log")
        url = api.url
    seconds = f"{args.duration:g}s"
    env = {"BASE_URL": url, "VUS": str(args.vus), "DURATION": seconds, "LOAD_API_KEY": token}
    started = time.perf_counter()
    load_before = os.getloadavg()
    scenarios: dict[str, Any] = {}
    agreement: dict[str, Any] | None = None
    try:
        for name in chosen:
            if name == "cached":
                scenarios[name], agreement = cached_agreement(url, env, args)
                print(f"  agreement: {json.dumps(agreement)}", flush=True)
            else:
                scenarios[name] = run_k6(name, env)
                print(f"  {name}: {json.dumps(scenarios[name])}", flush=True)
    finally:
        if api is not None:
            api.stop()
    met: dict[str, bool] = {}
    if "cached" in scenarios:
        met["cached_req_per_s"] = scenarios["cached"]["req_per_s"] >= TARGETS["cached_req_per_s"]
    if "zipf" in scenarios:
        met["zipf_req_per_s"] = scenarios["zipf"]["req_per_s"] >= TARGETS["zipf_req_per_s"]
        met["zipf_p99"] = scenarios["zipf"]["p(99)_ms"] <= TARGETS["zipf_p99_ms"]
    result = {
        "what": "k6 (tests/load/*.js) against make demo's stack; cached search beside"
        " bench_query_path.py's cached phase on the same API",
        "command": "make load  # " + " ".join(sys.argv[1:]),
        "k6": k6_version(),
        "api": {
            "url": url,
            "started_by_make_load": api is not None,
            "command": f"python -m api --workers {args.workers}" if api else None,
            "env": NO_LIMITS if api else None,
            "embedder": settings.embedder,
        },
        "postings": postings,
        "vus": args.vus,
        "duration_s": args.duration,
        "scenarios": scenarios,
        "agreement": agreement,
        "targets": {**TARGETS, "met": met},
        "machine": machine(
            loadavg_before=[round(x, 2) for x in load_before],
            loadavg_after=[round(x, 2) for x in os.getloadavg()],
        ),
        "git_commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    write_result(args.out, result)
    failed = [n for n, s in scenarios.items() if not s.get("passed")]
    if failed:
        print(f"make load: thresholds failed in {', '.join(failed)}", file=sys.stderr)
    if agreement is not None and not agreement["within_15_percent"]:
        print("make load: k6 and the Python bench differ by more than 15 %", file=sys.stderr)
    raise SystemExit(1 if failed or (agreement and not agreement["within_15_percent"]) else 0)


if __name__ == "__main__":
    main()
