"""Search latency and recall of api.search.PostingRepository at 100k postings, uncached.

Data: ``BENCH_ROWS`` (100k) clustered 384-d postings with varied attributes (the test
generator in tests/support/search.py, 200 centres), 5 % tombstones;
an IVFFlat index built the way the sink builds it (lists = rows/1000, probes =
ceil(sqrt(lists))) and described in ``vector_index``. Queries: fresh vectors from the
same clusters. For each scenario: p50/p95/p99 of ``repository.search`` (first=10, one
page and a third page) through an asyncpg pool, recall@10 against exact numpy ranking,
and which path (index / exact / index->exact fallback) the repository took. The same
with no index (exact path), and vector encoding cost (text vs pgvector binary codec).

Always a private embedded PostgreSQL (it TRUNCATEs ``postings``), unless
``BENCH_DATABASE_URL`` names a disposable database. Writes tests/bench/results/search.json.
Run: ``.venv/bin/python tests/bench/bench_search.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.search import PostingFilter, PostingRepository  # noqa: E402
from api.search.vectors import to_pgvector_text  # noqa: E402
from schemas.db.migrate import migrate  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from tests.support.bench import machine, percentiles_ms, write_result  # noqa: E402
from tests.support.provision import free_port  # noqa: E402
from tests.support.search import (  # noqa: E402
    insert_rows,
    make_rows,
    matches,
)

DIM = 384
ROWS = int(os.environ.get("BENCH_ROWS", 100_000))
QUERIES = int(os.environ.get("BENCH_QUERIES", 100))
CENTRES = 200
K = 10
RESULTS = ROOT / "tests" / "bench" / "results" / "search.json"

SCENARIOS: dict[str, PostingFilter] = {
    "no filter": PostingFilter(),
    "remote": PostingFilter(remote_modes=("REMOTE",)),
    "DE + python": PostingFilter(country_code="DE", skills_any=("python",)),
    "fluent/native + remote + 8 yrs": PostingFilter(
        english_levels=("FLUENT", "NATIVE"), remote_modes=("REMOTE",), experience_min_years=8
    ),
    "Berlin + rust + kafka": PostingFilter(city="berlin", skills_all=("rust", "kafka")),
    "EUR, salary >= 150k, posted H2": PostingFilter(
        currency="EUR", salary_min=150_000, posted_after=datetime(2025, 7, 1, tzinfo=UTC)
    ),
}


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        yield url
        return
    from infra.stack import postgres
    from infra.stack.paths import StackPaths

    with tempfile.TemporaryDirectory(prefix="bench-search-") as home:
        private = Settings(home=Path(home), postgres_port=free_port())
        paths = StackPaths.create(private.home)
        await asyncio.to_thread(postgres.start, private, paths)
        try:
            yield private.postgres_dsn
        finally:
            await asyncio.to_thread(postgres.stop, private, paths)


async def run_scenarios(
    repo: PostingRepository, rows: list[Any], queries: np.ndarray, log: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    live = [r for r in rows if not r.deleted]
    matrix = np.stack([r.embedding for r in live])
    for name, f in SCENARIOS.items():
        mask = np.array([matches(r, f) for r in live])
        share = float(mask.sum()) / len(rows)
        ids = [r.id for r in live]
        lat1: list[float] = []
        lat3: list[float] = []
        recalls: list[float] = []
        before = (repo.stats.index_searches, repo.stats.exact_searches, repo.stats.fallbacks)
        for q in queries:
            t = time.perf_counter()
            page = await repo.search(q, f, first=K, after=None)
            lat1.append(time.perf_counter() - t)
            scores = np.where(mask, matrix @ q, -np.inf)
            best = np.argsort(-scores)[: min(K, int(mask.sum()))]
            truth = {ids[i] for i in best}
            got = {h.posting_id for h in page.hits}
            if truth:
                recalls.append(len(got & truth) / len(truth))
            if page.has_next_page:
                p2 = await repo.search(q, f, first=K, after=page.end_cursor)
                if p2.has_next_page:
                    t = time.perf_counter()
                    await repo.search(q, f, first=K, after=p2.end_cursor)
                    lat3.append(time.perf_counter() - t)
        after = (repo.stats.index_searches, repo.stats.exact_searches, repo.stats.fallbacks)
        paths = dict(
            zip(
                ("index", "exact", "index->exact"), np.subtract(after, before).tolist(), strict=True
            )
        )
        out[name] = {
            "matching_share": round(share, 4),
            "page1_ms": percentiles_ms(lat1),
            "page3_ms": percentiles_ms(lat3) if lat3 else None,
            "recall@10": round(float(np.mean(recalls)), 4) if recalls else None,
            "paths (all pages)": paths,
        }
        log(f"  {name}: {json.dumps(out[name])}")
    return out


async def encoding_cost(dsn: str, query: np.ndarray) -> dict[str, float]:
    """Per-call cost of sending the vector as text (what the repository does) vs binary."""
    conn = await asyncpg.connect(dsn)
    try:
        n = 2000
        t = time.perf_counter()
        for _ in range(n):
            to_pgvector_text(query, DIM)
        fmt_us = (time.perf_counter() - t) / n * 1e6
        sql_text = "SELECT (SELECT $1::text::vector) <=> (SELECT $1::text::vector)"
        text = to_pgvector_text(query, DIM)
        for _ in range(50):
            await conn.fetchval(sql_text, text)
        t = time.perf_counter()
        for _ in range(n):
            await conn.fetchval(sql_text, text)
        text_us = (time.perf_counter() - t) / n * 1e6
        await register_vector(conn)
        sql_bin = "SELECT $1::vector <=> $1::vector"
        for _ in range(50):
            await conn.fetchval(sql_bin, query)
        t = time.perf_counter()
        for _ in range(n):
            await conn.fetchval(sql_bin, query)
        bin_us = (time.perf_counter() - t) / n * 1e6
    finally:
        await conn.close()
    return {
        "format_text_us": round(fmt_us, 1),
        "round_trip_text_us": round(text_us, 1),
        "round_trip_binary_codec_us": round(bin_us, 1),
    }


async def main() -> None:
    def log(msg: str) -> None:
        print(msg, flush=True)

    rng = np.random.default_rng(11)
    log(f"generating {ROWS} postings")
    rows = make_rows(ROWS, seed=5, dim=DIM, centres=CENTRES)
    # Queries from the data's clusters: existing points, perturbed (not in the table).
    seeds = np.stack([r.embedding for r in rows[: 2 * QUERIES] if r.embedding is not None])
    noise = rng.normal(scale=0.4 / np.sqrt(DIM), size=(QUERIES, DIM))
    queries = seeds[:QUERIES] + noise
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)

    async with database() as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn, embedding_dim=DIM)
            await conn.execute(
                "DROP INDEX IF EXISTS bench_ivfflat; TRUNCATE postings; DELETE FROM vector_index"
            )
            t = time.perf_counter()
            await insert_rows(conn, rows)
            log(f"loaded in {time.perf_counter() - t:.1f}s")
            server = await conn.fetchval("SHOW server_version")
            pgvector = await conn.fetchval(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            )
        finally:
            await conn.close()
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            results: dict[str, Any] = {
                "machine": machine(),
                "server": {"postgres": server, "pgvector": pgvector},
                "data": {"rows": ROWS, "dim": DIM, "centres": CENTRES, "queries": QUERIES},
            }
            log("exact path (no index)")
            repo = PostingRepository(pool, dim=DIM)
            results["no_index_exact"] = await run_scenarios(repo, rows, queries[:30], log)

            live = sum(not r.deleted for r in rows)
            lists = max(10, live // 1000)
            probes = max(1, math.ceil(math.sqrt(lists)))
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute("SET maintenance_work_mem = '512MB'")
                t = time.perf_counter()
                await conn.execute(
                    "CREATE INDEX bench_ivfflat ON postings"
                    f" USING ivfflat (embedding vector_cosine_ops) WITH (lists = {lists})"
                )
                build = time.perf_counter() - t
                await conn.execute(
                    "INSERT INTO vector_index"
                    " (name, method, opclass, lists, probes, rows_at_build, build_seconds)"
                    " VALUES ('bench_ivfflat', 'ivfflat', 'vector_cosine_ops', $1, $2, $3, $4)",
                    lists,
                    probes,
                    live,
                    build,
                )
            finally:
                await conn.close()
            log(f"ivfflat lists={lists} probes={probes} built in {build:.1f}s")
            results["ivfflat"] = {"lists": lists, "probes": probes, "build_s": round(build, 1)}
            repo = PostingRepository(pool, dim=DIM)
            results["ivfflat_scenarios"] = await run_scenarios(repo, rows, queries, log)
            results["vector_encoding"] = await encoding_cost(dsn, queries[0])
            log(json.dumps(results["vector_encoding"]))
        finally:
            await pool.close()
    write_result(RESULTS, results, log)


if __name__ == "__main__":
    asyncio.run(main())
