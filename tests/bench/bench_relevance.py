"""Search relevance on a judged set: nDCG@10, MRR and success@10 per query set and mode.

The issue's requirement (#12): "Report nDCG@10, MRR and success@10 for KEYWORD, SEMANTIC
and HYBRID, on the judged corpus alone and mixed into 10,000 generated postings, per
embedder. Targets: HYBRID at least as good as the better of the other two on every set;
success@10 >= 0.9 on every set when mixed; Korean within 10 % of English."

Data: the hand-written postings of ``tests/bench/relevance/corpus.ndjson`` and the
graded queries of ``queries.json`` (sets ``en_exact``, ``en_descriptive``, ``ko``,
``en_variants``; see tests/bench/relevance/judged.py). With ``--mixed`` the judged
postings are hidden among ``--generated`` postings of ``gateway.generator`` (seed 1),
which are never relevant. Every posting is embedded with the embedder under test
(``--embedder``, through ``schemas.embedding.make_embedder``) from
``gateway.generator.embedding_text`` -- the text ``jobstream produce`` embeds -- with the
embedding cache of the default JobStream home (``make demo``'s), so a second run and the
demo share vectors; ``--no-cache`` embeds afresh.

One run, on a private stack (``local_stack`` in a temporary folder, free ports): the rows
the sink would write are COPYed into ``postings`` (the vector index is built by
``VectorIndexManager.check`` when the table is large enough), the API runs as
``python -m api`` with ``JOBSTREAM_EMBEDDER`` set to the same embedder, and every query is
the real GraphQL ``search(query:, first: 10, mode:)``. The modes are read from the live
schema (introspection, else api/schema.graphql): while ``search`` has no ``mode``
argument, the current search is measured as SEMANTIC. Caches are flushed between modes.

Metrics (tests/bench/relevance/metrics.py): nDCG@10 with exponential gain 2^grade - 1
and a log2 discount against the ideal order of all judged postings; MRR and success@10
count a posting as relevant from grade 2. Targets are checked on nDCG@10; "Korean within
10 %" means nDCG@10 of ``ko`` >= 0.9 x that of the English sets pooled (en_exact and
en_descriptive).

Run (one benchmark at a time on a shared machine)::

    .venv/bin/python tests/bench/bench_relevance.py                   # judged corpus alone, MiniLM
    .venv/bin/python tests/bench/bench_relevance.py --mixed           # + 10,000 generated
    .venv/bin/python tests/bench/bench_relevance.py --embedder hash --mixed

Each run is stored under its own key (``alone/<embedder>``, ``mixed-10000/<embedder>``)
in tests/bench/results/relevance.json, next to the runs of other configurations.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, get_args

import aiohttp
import asyncpg
import numpy as np
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway.generator import EMBED_TEXTS, EmbedText, embedding_text, generate  # noqa: E402
from schemas.domain import from_json  # noqa: E402
from schemas.embedding import Embedder, EmbedderKind, make_embedder  # noqa: E402
from schemas.settings import Settings, load_settings  # noqa: E402
from streams.index import VectorIndexManager  # noqa: E402
from streams.sink.writer import register_vector_bytes  # noqa: E402
from tests.bench.relevance import judged  # noqa: E402
from tests.bench.relevance.metrics import K, Scores, mean, score  # noqa: E402
from tests.support.bench import (  # noqa: E402
    COPY_COLUMNS,
    Child,
    copy_rows,
    git_commit,
    latency_ms,
    machine,
    write_result,
)
from tests.support.provision import free_port  # noqa: E402

MODES = ("KEYWORD", "SEMANTIC", "HYBRID")
CURRENT = "SEMANTIC"  # what the search without a mode argument is measured as
SEED = 1
EMBED_CHUNK = 256
PYTHON = sys.executable
ADMIN_TOKEN = "bench-admin-token"
DEFAULT_OUT = ROOT / "tests" / "bench" / "results" / "relevance.json"
ENGLISH_SETS = ("en_exact", "en_descriptive")
KOREAN_SET = "ko"
MAIN_SETS = (*ENGLISH_SETS, KOREAN_SET)  # what the targets are checked on
TARGET_SUCCESS_MIXED = 0.9
TARGET_KOREAN_RATIO = 0.9
console = Console()

SEARCH_FIELDS = "{ totalCount edges { score node { id } } }"
FLUSH_DOC = "mutation { cacheFlush { cleared } }"
SEARCH_ARGS_DOC = (
    '{ __type(name: "Query") { fields { name args { name type { name kind ofType { name } } } } } }'
)
ENUM_DOC = "query E($name: String!) { __type(name: $name) { enumValues { name } } }"


def search_doc(mode: str | None) -> str:
    """The search document, with a ``mode`` variable only when the schema has one."""
    if mode is None:
        return f"query S($q: String!) {{ search(query: $q, first: {K}) {SEARCH_FIELDS} }}"
    return (
        f"query S($q: String!, $m: {mode}) {{ search(query: $q, first: {K}, mode: $m)"
        f" {SEARCH_FIELDS} }}"
    )


# --- the postings --------------------------------------------------------------------------


def embed_all(
    postings: Sequence[dict[str, Any]],
    embedder: Embedder,
    cache_home: Path | None,
    text: EmbedText = embedding_text,
) -> np.ndarray:
    """Vectors for ``postings`` from ``text`` (``--embed-text``), through the embedding
    cache."""
    compute: Callable[[list[str]], Any] = embedder.embed
    if cache_home is not None:
        from gateway.embedding_cache import EmbeddingCache, cache_path

        store = EmbeddingCache(cache_path(cache_home, embedder.name), embedder.dim)

        def compute(texts: list[str]) -> Any:
            return store.embed(texts, compute=embedder.embed)

    texts = [text(p) for p in postings]
    out = np.empty((len(texts), embedder.dim), dtype="<f4")
    for start in range(0, len(texts), EMBED_CHUNK):
        out[start : start + EMBED_CHUNK] = np.asarray(compute(texts[start : start + EMBED_CHUNK]))
    return out


def rows_for(
    postings: Sequence[dict[str, Any]],
    embedder: Embedder,
    cache_home: Path | None,
    text: EmbedText = embedding_text,
) -> list[tuple[object, ...]]:
    """The rows the sink would write for ``postings`` embedded by ``embedder``."""
    vectors = embed_all(postings, embedder, cache_home, text)
    events = []
    for data, vector in zip(postings, vectors, strict=True):
        event = from_json(data)
        event.body.embedding = vector.tobytes()
        event.body.embedding_model = embedder.name
        events.append(event)
    return copy_rows(events, embedder.dim)


async def load(settings: Settings, rows: list[tuple[object, ...]]) -> dict[str, Any]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await register_vector_bytes(conn)
        await conn.execute("TRUNCATE postings")
        await conn.copy_records_to_table("postings", records=rows, columns=list(COPY_COLUMNS))
        # what the sink's upsert adds beside the rows: the skills, for typo corrections
        await conn.execute(
            "INSERT INTO skill_vocabulary SELECT DISTINCT unnest(skills) FROM postings"
            " ON CONFLICT DO NOTHING"
        )
        await conn.execute("ANALYZE postings")
        action = await VectorIndexManager(settings.postgres_dsn).check()
        count = await conn.fetchval("SELECT count(*) FROM postings WHERE NOT deleted")
    finally:
        await conn.close()
    return {"rows": count, "vector_index": None if action is None else str(action)}


# --- the API -------------------------------------------------------------------------------


@contextlib.contextmanager
def api_server(home: Path, port: int, embedder: str) -> Iterator[Child]:
    env = {
        **os.environ,
        "JOBSTREAM_EMBEDDER": embedder,
        "JOBSTREAM_API_PORT": str(port),
        "JOBSTREAM_ADMIN_TOKEN": ADMIN_TOKEN,
        "JOBSTREAM_LOG_LEVEL": "WARNING",
    }
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    child = Child("api", [PYTHON, "-m", "api"], env, logs)
    try:
        yield child
    finally:
        child.stop()


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str, child: Child) -> None:
        self.session = session
        self.base = base
        self.child = child

    async def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.child.alive():
                raise RuntimeError(f"api exited:\n{self.child.tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with self.session.get(f"{self.base}/health") as r:
                    if r.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"api not healthy after {timeout:.0f} s:\n{self.child.tail()}")
            await asyncio.sleep(0.3)

    async def post(
        self, doc: str, variables: dict[str, Any] | None = None, admin: bool = False
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {ADMIN_TOKEN}"} if admin else {}
        payload = {"query": doc, "variables": variables or {}}
        async with self.session.post(f"{self.base}/graphql", json=payload, headers=headers) as r:
            data: dict[str, Any] = await r.json()
        if r.status != 200 or data.get("errors"):
            raise RuntimeError(f"GraphQL failed ({r.status}): {data}")
        answer: dict[str, Any] = data["data"]
        return answer

    async def modes(self) -> tuple[str | None, list[str]]:
        """The enum type of ``search``'s ``mode`` argument and the measurable modes in it;
        ``(None, [CURRENT])`` while the argument does not exist."""
        try:
            fields = (await self.post(SEARCH_ARGS_DOC))["__type"]["fields"]
            args = next(f["args"] for f in fields if f["name"] == "search")
            arg = next((a for a in args if a["name"] == "mode"), None)
            if arg is None:
                return None, [CURRENT]
            kind = arg["type"]["name"] or arg["type"]["ofType"]["name"]
            values = (await self.post(ENUM_DOC, {"name": kind}))["__type"]["enumValues"]
            names = {v["name"] for v in values}
        except (RuntimeError, KeyError, StopIteration, TypeError):
            return schema_file_modes()
        return kind, [m for m in MODES if m in names]

    async def search(self, text: str, kind: str | None, mode: str) -> tuple[float, list[str], int]:
        variables: dict[str, Any] = {"q": text}
        if kind is not None:
            variables["m"] = mode
        started = time.perf_counter()
        data = await self.post(search_doc(kind), variables)
        elapsed = time.perf_counter() - started
        page = data["search"]
        return elapsed, [e["node"]["id"] for e in page["edges"]], int(page["totalCount"])

    async def flush(self, redis: Redis) -> None:
        await self.post(FLUSH_DOC, admin=True)
        await redis.flushdb()


def schema_file_modes() -> tuple[str | None, list[str]]:
    """The modes api/schema.graphql declares (when introspection is not answered)."""
    from graphql import GraphQLEnumType, build_schema, get_named_type

    schema = build_schema((ROOT / "api" / "schema.graphql").read_text())
    query = schema.query_type
    search = query.fields["search"] if query is not None else None
    arg = search.args.get("mode") if search is not None else None
    if arg is None:
        return None, [CURRENT]
    kind = get_named_type(arg.type)
    if not isinstance(kind, GraphQLEnumType):
        return None, [CURRENT]
    return kind.name, [m for m in MODES if m in kind.values]


# --- the run -------------------------------------------------------------------------------


async def measure(
    settings: Settings, home: Path, rows: list[tuple[object, ...]], embedder: str
) -> dict[str, Any]:
    sets = judged.load_queries()
    out: dict[str, Any] = {"table": await load(settings, rows)}
    port = free_port()
    redis = Redis.from_url(settings.redis_dsn)
    with api_server(home, port, embedder) as child:
        async with aiohttp.ClientSession() as session:
            api = Api(session, f"http://127.0.0.1:{port}", child)
            await api.wait_healthy()
            kind, modes = await api.modes()
            out["schema"] = {"mode_argument": kind, "modes": modes}
            console.print(f"search modes: {modes} (mode argument type: {kind})")
            scores: dict[str, dict[str, Any]] = {}
            queries: dict[str, dict[str, Any]] = {}
            latency: dict[str, Any] = {}
            for mode in modes:
                await api.flush(redis)
                seconds: list[float] = []
                scores[mode] = {}
                for name, items in sets.items():
                    per_query: list[Scores] = []
                    for query in items:
                        took, ranking, total = await api.search(query.text, kind, mode)
                        seconds.append(took)
                        one = score(ranking, query.judgments)
                        per_query.append(one)
                        found = queries.setdefault(f"{name}/{query.id}", {"query": query.text})
                        found[mode] = {
                            **one.as_dict(),
                            "total_count": total,
                            "top": " ".join(f"{p}:{query.judgments.get(p, 0)}" for p in ranking),
                        }
                    scores[mode][name] = mean(per_query)
                latency[mode] = latency_ms(seconds)
            out["scores"] = scores
            out["latency_ms"] = latency
            out["queries"] = queries
    await redis.aclose()
    return out


def pooled(scores: dict[str, Scores], names: Sequence[str]) -> Scores:
    """The query-weighted mean of several sets' means."""
    parts = [scores[n] for n in names if n in scores]
    total = sum(p.queries for p in parts)
    return Scores(
        sum(p.ndcg * p.queries for p in parts) / total,
        sum(p.mrr * p.queries for p in parts) / total,
        sum(p.success * p.queries for p in parts) / total,
        total,
    )


def targets(scores: dict[str, dict[str, Scores]], mixed: bool) -> dict[str, Any]:
    """The issue's targets, for the modes measured (None where a mode is missing)."""
    out: dict[str, Any] = {}
    if {"HYBRID", "KEYWORD", "SEMANTIC"} <= scores.keys():
        out["hybrid_at_least_best_other_ndcg"] = {
            name: scores["HYBRID"][name].ndcg
            >= max(scores["KEYWORD"][name].ndcg, scores["SEMANTIC"][name].ndcg) - 1e-9
            for name in MAIN_SETS
        }
    else:
        out["hybrid_at_least_best_other_ndcg"] = None
    if mixed:
        out[f"success@{K}_at_least_{TARGET_SUCCESS_MIXED}_mixed"] = {
            mode: {name: by_set[name].success >= TARGET_SUCCESS_MIXED for name in MAIN_SETS}
            for mode, by_set in scores.items()
        }
    out["korean_ndcg_over_english"] = {}
    for mode, by_set in scores.items():
        english = pooled(by_set, ENGLISH_SETS).ndcg
        ratio = by_set[KOREAN_SET].ndcg / english if english else 0.0
        out["korean_ndcg_over_english"][mode] = {
            "ratio": round(ratio, 3),
            "met": ratio >= TARGET_KOREAN_RATIO,
        }
    return out


def report(title: str, scores: dict[str, dict[str, Scores]]) -> None:
    table = Table(title=title)
    for column in ("mode", "set", "queries", f"nDCG@{K}", "MRR", f"success@{K}"):
        table.add_column(column, justify="left" if column in ("mode", "set") else "right")
    for mode, by_set in scores.items():
        for name, s in by_set.items():
            table.add_row(
                mode, name, str(s.queries), f"{s.ndcg:.3f}", f"{s.mrr:.3f}", f"{s.success:.2f}"
            )
    console.print(table)


def store(path: Path, key: str, result: dict[str, Any]) -> None:
    """Keep the other configurations' runs in the file; replace this one's."""
    runs: dict[str, Any] = {}
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError):
        runs = json.loads(path.read_text())["runs"]
    runs[key] = result
    write_result(path, {"what": __doc__.splitlines()[0], "runs": runs}, console.print)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=get_args(EmbedderKind), default="minilm")
    parser.add_argument("--mixed", action="store_true", help="add --generated postings")
    parser.add_argument("--generated", type=int, default=10_000)
    parser.add_argument("--no-cache", action="store_true", help="embed without the cache")
    parser.add_argument(
        "--embed-text",
        choices=list(EMBED_TEXTS),
        default="full",
        help="what each posting embeds, as `jobstream produce --embed-text` (demo: brief)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    from tests.support.provision import local_stack

    logging.getLogger().setLevel(logging.WARNING)
    defaults = load_settings()
    cached = not args.no_cache and args.embedder != "hash"  # hashing beats a lookup
    cache_home = defaults.embedding_cache_dir if cached else None
    embedder = make_embedder(args.embedder, defaults.embedding_dim)
    corpus = judged.load_corpus()
    postings = list(corpus)
    if args.mixed:
        postings += list(generate(args.generated, seed=SEED))
    with console.status(f"embedding {len(postings)} postings with {embedder.name}"):
        started = time.perf_counter()
        rows = rows_for(postings, embedder, cache_home, EMBED_TEXTS[args.embed_text])
        embed_s = time.perf_counter() - started
    console.print(f"{len(rows)} postings embedded in {embed_s:.1f} s")
    with (
        tempfile.TemporaryDirectory(prefix="bench-relevance-") as home,
        local_stack(Path(home)) as settings,
    ):
        measured = asyncio.run(measure(settings, Path(home), rows, args.embedder))
    scores: dict[str, dict[str, Scores]] = measured.pop("scores")
    per_query = measured.pop("queries")
    key = f"mixed-{args.generated}/{args.embedder}" if args.mixed else f"alone/{args.embedder}"
    if args.embed_text != "full":
        key += f"/{args.embed_text}"
    report(f"relevance: {key} ({embedder.name})", scores)
    result = {
        "corpus": {
            "judged": len(corpus),
            "generated": args.generated if args.mixed else 0,
            "generator_seed": SEED if args.mixed else None,
        },
        "embedder": {"kind": args.embedder, "model": embedder.name, "dim": embedder.dim},
        "embed_text": args.embed_text,
        "embedding_s": round(embed_s, 1),
        "embedding_cache": str(cache_home) if cache_home else None,
        "metrics": {
            "ndcg": f"nDCG@{K}, gain 2^grade - 1, log2 discount, ideal from the judgments",
            "mrr": "1 / rank of the first posting graded >= 2 among the first 10 (else 0)",
            "success": f"share of queries with a posting graded >= 2 in the first {K}",
        },
        **measured,
        "scores": {
            mode: {name: s.as_dict() for name, s in by_set.items()}
            for mode, by_set in scores.items()
        },
        "targets": targets(scores, args.mixed),
        "command": " ".join(["tests/bench/bench_relevance.py", *sys.argv[1:]]),
        "git_commit": git_commit(),
        "machine": machine(load_average_1_5_15_min_at_end=[round(x, 2) for x in os.getloadavg()]),
        "queries": per_query,
    }
    store(args.out, key, result)


if __name__ == "__main__":
    main()
