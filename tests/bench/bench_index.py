"""Which vector index should the sink maintain? Insert speed vs search recall, measured.

Data: 100k clustered 384-d vectors -- never uniform random vectors, the pathological case
for every ANN index. 200 cluster centres drawn around 20 "topics" (sibling clusters
overlap, like sub-fields of one trade), points = centre + gaussian noise, normalised.
Queries: 200 fresh vectors from the same clusters; ground truth by exact cosine in numpy.

Measured, each on the same data:
- COPY into an unindexed table; the sink's path (COPY into staging + INSERT ... SELECT)
  with the pgvector binary codec vs vectors as text;
- IVFFlat (lists = rows/1000) and HNSW (m=16, ef_construction=64): build time, insert
  rows/s into the indexed table through the sink's path, recall@10 and latency by
  probes / ef_search, and a 5%-selective filtered search with and without
  ``iterative_scan``;
- exact search (no index) latency.

Writes tests/bench/results/index.json. Uses JOBSTREAM_* settings' PostgreSQL when it
answers, otherwise starts a private embedded PostgreSQL in a temporary folder.
Run: ``.venv/bin/python tests/bench/bench_index.py`` (about 2 minutes on 2 cores).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from schemas.settings import Settings, load_settings  # noqa: E402
from tests.support.bench import machine, percentile_ms, write_result  # noqa: E402
from tests.support.provision import free_port  # noqa: E402

DIM = 384
ROWS = int(os.environ.get("BENCH_ROWS", 100_000))
TOPICS = 20
CENTERS = 200
SPREAD = 0.8  # norm of a centre's offset from its topic (sibling centres: cosine ~0.6)
NOISE = 0.6  # norm of a point's offset from its centre (cosine to its centre ~0.86)
QUERIES = 200
K = 10
GROUPS = 20  # filter column: grp = 3 keeps 5% of the rows
BATCH = 2000  # the sink's default batch size
RESULTS = ROOT / "tests" / "bench" / "results" / "index.json"


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def make_centers(rng: np.random.Generator, count: int = CENTERS) -> np.ndarray:
    topics = unit(rng.normal(size=(TOPICS, DIM)))
    offsets = rng.normal(size=(count, DIM)) * (SPREAD / np.sqrt(DIM))
    return unit(topics[np.arange(count) % TOPICS] + offsets)


def clustered(
    n: int, rng: np.random.Generator, centers: np.ndarray, noise_norm: float = NOISE
) -> np.ndarray:
    which = rng.integers(0, len(centers), n)
    noise = rng.normal(size=(n, DIM)).astype(np.float32) * (noise_norm / np.sqrt(DIM))
    return unit(centers[which] + noise)


def top_k(data: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None) -> list:
    scores = queries @ data.T
    if mask is not None:
        scores[:, ~mask] = -np.inf
    return [set(np.argpartition(-row, k)[:k].tolist()) for row in scores]


async def timed_queries(
    conn: asyncpg.Connection, sql: str, queries: np.ndarray, *args: Any
) -> tuple[list[list[int]], list[float]]:
    results, times = [], []
    for q in queries:
        t = time.perf_counter()
        rows = await conn.fetch(sql, q, *args)
        times.append(time.perf_counter() - t)
        results.append([r["id"] for r in rows])
    return results, times


def recall(results: list[list[int]], truth: list[set[int]]) -> float:
    hits = [len(set(r) & t) / K for r, t in zip(results, truth, strict=True)]
    return round(statistics.mean(hits), 4)


async def load(conn: asyncpg.Connection, table: str, data: np.ndarray, start: int = 0) -> float:
    t = time.perf_counter()
    await conn.copy_records_to_table(
        table,
        records=[(start + i, (start + i) % GROUPS, data[i]) for i in range(len(data))],
        columns=["id", "grp", "embedding"],
    )
    return time.perf_counter() - t


async def sink_path_insert(
    conn: asyncpg.Connection, table: str, data: np.ndarray, start: int, *, text: bool = False
) -> float:
    """The sink's write path: per batch, COPY into a temp staging table + INSERT SELECT."""
    staging = "bench_staging_text" if text else "bench_staging"
    kind = "text" if text else f"vector({DIM})"
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} (id int, grp int, embedding {kind})"
        " ON COMMIT DELETE ROWS"
    )
    cast = "::vector" if text else ""
    t = time.perf_counter()
    for b in range(0, len(data), BATCH):
        chunk = data[b : b + BATCH]
        records = [
            (
                start + b + i,
                (start + b + i) % GROUPS,
                "[" + ",".join(map(repr, v.tolist())) + "]" if text else v,
            )
            for i, v in enumerate(chunk)
        ]
        async with conn.transaction():
            await conn.copy_records_to_table(
                staging, records=records, columns=["id", "grp", "embedding"]
            )
            await conn.execute(
                f"INSERT INTO {table} (id, grp, embedding)"
                f" SELECT id, grp, embedding{cast} FROM {staging}"
                " ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding"
            )
    return time.perf_counter() - t


async def fresh_table(conn: asyncpg.Connection, table: str) -> None:
    await conn.execute(f"DROP TABLE IF EXISTS {table}")
    await conn.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, grp int NOT NULL, embedding vector({DIM}))"
    )


async def bench(conn: asyncpg.Connection, log: Callable[[str], None]) -> dict[str, Any]:
    rng = np.random.default_rng(42)
    centers = make_centers(rng)
    data = clustered(ROWS, rng, centers)
    extra = clustered(20_000, rng, centers)  # inserted into the indexed tables
    queries = clustered(QUERIES, rng, centers)
    truth = top_k(data, queries, K)
    grp_mask = (np.arange(ROWS) % GROUPS) == 3
    truth_filtered = top_k(data, queries, K, grp_mask)
    out: dict[str, Any] = {
        "data": {
            "rows": ROWS,
            "dim": DIM,
            "topics": TOPICS,
            "centers": CENTERS,
            "centre_spread_norm": SPREAD,
            "noise_norm": NOISE,
            "queries": QUERIES,
            "k": K,
            "batch": BATCH,
        }
    }
    table = "bench_vectors"
    await conn.execute("SET maintenance_work_mem = '512MB'")

    # --- load + exact search -------------------------------------------------------
    await fresh_table(conn, table)
    seconds = await load(conn, table, data)
    out["copy_unindexed_rows_per_s"] = round(ROWS / seconds)
    log(f"COPY {ROWS} rows: {out['copy_unindexed_rows_per_s']} rows/s")
    await conn.execute(f"ANALYZE {table}")
    knn = f"SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT {K}"
    knn_filtered = f"SELECT id FROM {table} WHERE grp = $2 ORDER BY embedding <=> $1 LIMIT {K}"
    res, times = await timed_queries(conn, knn, queries[:20])
    out["exact"] = {
        "recall@10": recall(res, truth[:20]),
        "p50_ms": percentile_ms(times, 50),
        "p95_ms": percentile_ms(times, 95),
    }
    log(f"exact: {out['exact']}")

    # --- the sink's write path, codec vs text, no vector index ---------------------
    n = 10_000
    binary = await sink_path_insert(conn, table, extra[:n], ROWS)
    as_text = await sink_path_insert(conn, table, extra[:n], ROWS, text=True)
    out["sink_path_unindexed_rows_per_s"] = {
        "binary_codec": round(n / binary),
        "text": round(n / as_text),
    }
    log(f"sink path, no vector index: {out['sink_path_unindexed_rows_per_s']}")
    await conn.execute(f"DELETE FROM {table} WHERE id >= {ROWS}")

    # --- IVFFlat -----------------------------------------------------------------------
    lists = ROWS // 1000
    t = time.perf_counter()
    await conn.execute(
        f"CREATE INDEX bench_ivf ON {table} USING ivfflat (embedding vector_cosine_ops)"
        f" WITH (lists = {lists})"
    )
    ivf: dict[str, Any] = {"lists": lists, "build_s": round(time.perf_counter() - t, 1)}
    ivf["by_probes"] = {}
    for probes in (1, 3, 5, 10, 20):
        await conn.execute(f"SET ivfflat.probes = {probes}")
        res, times = await timed_queries(conn, knn, queries)
        ivf["by_probes"][probes] = {
            "recall@10": recall(res, truth),
            "p50_ms": percentile_ms(times, 50),
            "p95_ms": percentile_ms(times, 95),
        }
    await conn.execute("SET ivfflat.probes = 10")
    ivf["filtered_5pct_probes10"] = {}
    for mode in ("off", "relaxed_order"):
        await conn.execute(f"SET ivfflat.iterative_scan = {mode}")
        res, times = await timed_queries(conn, knn_filtered, queries, 3)
        ivf["filtered_5pct_probes10"][mode] = {
            "recall@10": recall(res, truth_filtered),
            "mean_rows_returned": round(statistics.mean(len(r) for r in res), 2),
            "p50_ms": percentile_ms(times, 50),
        }
    await conn.execute("SET ivfflat.iterative_scan = off")
    seconds = await sink_path_insert(conn, table, extra, ROWS)
    ivf["insert_rows_per_s"] = round(len(extra) / seconds)
    out["ivfflat"] = ivf
    log(f"ivfflat: {json.dumps(ivf)}")
    await conn.execute("DROP INDEX bench_ivf")
    await conn.execute(f"DELETE FROM {table} WHERE id >= {ROWS}")
    # An insert compares the vector with every list centre: what 1000 lists (the size
    # for a 1M-row table) costs per insert, measured here on the same 100k rows.
    await conn.execute(
        f"CREATE INDEX bench_ivf1000 ON {table} USING ivfflat (embedding vector_cosine_ops)"
        " WITH (lists = 1000)"
    )
    seconds = await sink_path_insert(conn, table, extra, ROWS)
    ivf["insert_rows_per_s_lists_1000"] = round(len(extra) / seconds)
    log(f"ivfflat lists=1000 insert: {ivf['insert_rows_per_s_lists_1000']} rows/s")
    await conn.execute("DROP INDEX bench_ivf1000")
    await conn.execute(f"DELETE FROM {table} WHERE id >= {ROWS}")
    await conn.execute(f"VACUUM {table}")

    # --- HNSW ----------------------------------------------------------------------------
    t = time.perf_counter()
    await conn.execute(
        f"CREATE INDEX bench_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"
        " WITH (m = 16, ef_construction = 64)"
    )
    hnsw: dict[str, Any] = {"m": 16, "ef_construction": 64}
    hnsw["build_s"] = round(time.perf_counter() - t, 1)
    hnsw["by_ef_search"] = {}
    for ef in (40, 100):
        await conn.execute(f"SET hnsw.ef_search = {ef}")
        res, times = await timed_queries(conn, knn, queries)
        hnsw["by_ef_search"][ef] = {
            "recall@10": recall(res, truth),
            "p50_ms": percentile_ms(times, 50),
            "p95_ms": percentile_ms(times, 95),
        }
    await conn.execute("SET hnsw.ef_search = 40")
    for mode in ("off", "relaxed_order"):
        await conn.execute(f"SET hnsw.iterative_scan = {mode}")
        res, times = await timed_queries(conn, knn_filtered, queries, 3)
        hnsw.setdefault("filtered_5pct_ef40", {})[mode] = {
            "recall@10": recall(res, truth_filtered),
            "mean_rows_returned": round(statistics.mean(len(r) for r in res), 2),
            "p50_ms": percentile_ms(times, 50),
        }
    await conn.execute("SET hnsw.iterative_scan = off")
    n = 2000
    seconds = await sink_path_insert(conn, table, extra[:n], ROWS)
    hnsw["insert_rows_per_s"] = round(n / seconds)
    out["hnsw"] = hnsw
    log(f"hnsw: {json.dumps(hnsw)}")
    await conn.execute(f"DROP TABLE {table}")
    out["harder_data"] = await bench_recall(conn, log, centers=2000, noise=0.8)
    return out


async def bench_recall(
    conn: asyncpg.Connection, log: Callable[[str], None], *, centers: int, noise: float
) -> dict[str, Any]:
    """Recall only, on data closer to a continuum: many small overlapping clusters, so
    an IVFFlat list no longer holds whole clusters and probes matter."""
    rng = np.random.default_rng(7)
    cs = make_centers(rng, centers)
    data = clustered(ROWS, rng, cs, noise)
    queries = clustered(QUERIES, rng, cs, noise)
    truth = top_k(data, queries, K)
    out: dict[str, Any] = {"centers": centers, "noise_norm": noise}
    table = "bench_vectors_hard"
    await fresh_table(conn, table)
    await load(conn, table, data)
    await conn.execute(f"ANALYZE {table}")
    knn = f"SELECT id FROM {table} ORDER BY embedding <=> $1 LIMIT {K}"
    lists = ROWS // 1000
    t = time.perf_counter()
    await conn.execute(
        f"CREATE INDEX bench_hard_ivf ON {table} USING ivfflat (embedding vector_cosine_ops)"
        f" WITH (lists = {lists})"
    )
    out["ivfflat"] = {"lists": lists, "build_s": round(time.perf_counter() - t, 1)}
    for probes in (1, 3, 5, 10, 20):
        await conn.execute(f"SET ivfflat.probes = {probes}")
        res, times = await timed_queries(conn, knn, queries)
        out["ivfflat"].setdefault("by_probes", {})[probes] = {
            "recall@10": recall(res, truth),
            "p50_ms": percentile_ms(times, 50),
            "p95_ms": percentile_ms(times, 95),
        }
    await conn.execute("DROP INDEX bench_hard_ivf")
    t = time.perf_counter()
    await conn.execute(
        f"CREATE INDEX bench_hard_hnsw ON {table} USING hnsw (embedding vector_cosine_ops)"
        " WITH (m = 16, ef_construction = 64)"
    )
    out["hnsw"] = {"build_s": round(time.perf_counter() - t, 1)}
    for ef in (40, 100):
        await conn.execute(f"SET hnsw.ef_search = {ef}")
        res, times = await timed_queries(conn, knn, queries)
        out["hnsw"].setdefault("by_ef_search", {})[ef] = {
            "recall@10": recall(res, truth),
            "p50_ms": percentile_ms(times, 50),
            "p95_ms": percentile_ms(times, 95),
        }
    await conn.execute(f"DROP TABLE {table}")
    log(f"harder data: {json.dumps(out)}")
    return out


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[tuple[str, str]]:
    """(dsn, where) of a PostgreSQL with pgvector: the configured one, or a private one."""
    settings = load_settings()
    try:
        conn = await asyncpg.connect(settings.postgres_dsn, timeout=3)
        await conn.close()
        yield settings.postgres_dsn, "configured stack"
        return
    except (OSError, asyncpg.PostgresError):
        pass
    from infra.stack import postgres
    from infra.stack.paths import StackPaths

    with tempfile.TemporaryDirectory(prefix="bench-index-") as home:
        private = Settings(home=Path(home), postgres_port=free_port())
        paths = StackPaths.create(private.home)
        await asyncio.to_thread(postgres.start, private, paths)
        try:
            yield private.postgres_dsn, "private embedded postgres"
        finally:
            await asyncio.to_thread(postgres.stop, private, paths)


async def main() -> None:
    started = time.perf_counter()
    async with database() as (dsn, where):
        conn = await asyncpg.connect(dsn)
        await register_vector(conn)
        try:
            versions = await conn.fetchrow(
                "SELECT current_setting('server_version') AS pg,"
                " (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector"
            )
            out = await bench(conn, lambda line: print(line, flush=True))
        finally:
            await conn.close()
    out["environment"] = machine(
        postgres=versions["pg"],
        pgvector=versions["pgvector"],
        where=where,
        bench_seconds=round(time.perf_counter() - started, 1),
    )
    write_result(RESULTS, out)


if __name__ == "__main__":
    asyncio.run(main())
