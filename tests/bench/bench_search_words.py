"""The cost of the skill facet and of resolving a query's words (aliases, typos; #12).

Loads ``--postings`` generated postings (seed 3, random unit vectors: no embedder is
measured here) into a private stack's ``postings`` the way the sink writes them, fills
``skill_vocabulary`` as the sink's upsert does, then ``VACUUM ANALYZE`` (a bulk COPY
leaves the GIN pending list full, which every probe for a missing word reads). Reports
medians of ``--repeats`` runs: the facets of every posting with and without the skill
facet, the skill facet alone, the facets of a few queries' matches, and the word
resolution statement for found words, a typo, a stemmer-forgiven typo and Korean words.

Run: ``.venv/bin/python tests/bench/bench_search_words.py [--postings 20000]``; writes
tests/bench/results/search_words.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from api.search import PostingFilter, PostingRepository  # noqa: E402
from api.search import sql as S  # noqa: E402
from api.search.words import WordResolver  # noqa: E402
from gateway.generator import generate  # noqa: E402
from schemas.domain import from_json  # noqa: E402
from schemas.search import synonyms  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from streams.sink.writer import register_vector_bytes  # noqa: E402
from tests.support.bench import COPY_COLUMNS, copy_rows, git_commit, machine, write_result  # noqa: E402

DIM = 384
OUT = ROOT / "tests" / "bench" / "results" / "search_words.json"
QUERIES = ("python developer", "k8s engineer", "kubernets")
WORDS = (("python", "developer"), ("kubernets",), ("pyhton", "developer"), ("데이터", "엔지니어"))


async def median_ms(run: Callable[[], Awaitable[Any]], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


async def load(conn: asyncpg.Connection, n: int) -> None:
    rng = np.random.default_rng(3)
    events = []
    for data in generate(n, seed=3):
        event = from_json(data)
        vector = rng.standard_normal(DIM).astype("<f4")
        event.body.embedding = (vector / np.linalg.norm(vector)).tobytes()
        event.body.embedding_model = "random"
        events.append(event)
    await register_vector_bytes(conn)
    await conn.execute("TRUNCATE postings")
    rows = copy_rows(events, DIM)
    await conn.copy_records_to_table("postings", records=rows, columns=list(COPY_COLUMNS))
    await conn.execute(
        "INSERT INTO skill_vocabulary SELECT DISTINCT unnest(skills) FROM postings"
        " ON CONFLICT DO NOTHING"
    )
    await conn.execute("VACUUM ANALYZE postings")


async def measure(settings: Settings, n: int, repeats: int) -> dict[str, Any]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    assert pool is not None
    try:
        await load(conn, n)
        every = PostingFilter().normalized()
        params = S.Params()
        grouped = S._grouped_counts(f"postings WHERE {S.where(every, params)}")
        skills_params = S.Params()
        skills_only = S.skill_counts(
            f"postings WHERE {S.where(every, skills_params)}", skills_params
        )
        facets_sql, facets_args = S.facets(every)
        out: dict[str, Any] = {
            "facets_without_skills_ms": await median_ms(
                lambda: conn.fetch(grouped, *params.values), repeats
            ),
            "facets_with_skills_ms": await median_ms(
                lambda: conn.fetch(facets_sql, *facets_args), repeats
            ),
            "skill_facet_alone_ms": await median_ms(
                lambda: conn.fetch(skills_only, *skills_params.values), repeats
            ),
        }
        repo = PostingRepository(pool, dim=DIM)
        vector = np.ones(DIM, dtype=np.float32)
        out["facets_of_matches_ms"] = {
            q: await median_ms(
                lambda q=q: repo.facets_of_matches(vector, PostingFilter(), text=q), repeats
            )
            for q in QUERIES
        }
        aliases = synonyms.active()
        resolver = WordResolver(ttl_s=0)  # nothing remembered: every call runs the statement
        out["resolve_words_ms"] = {
            " ".join(w): await median_ms(lambda w=w: resolver.resolve(conn, w, aliases), repeats)
            for w in WORDS
        }
        return out
    finally:
        await pool.close()
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from tests.support.provision import local_stack

    with tempfile.TemporaryDirectory(prefix="bench-words-") as home, local_stack(Path(home)) as s:
        result = asyncio.run(measure(s, args.postings, args.repeats))
    result.update(
        postings=args.postings,
        repeats=args.repeats,
        command=" ".join(["tests/bench/bench_search_words.py", *sys.argv[1:]]),
        git_commit=git_commit(),
        machine=machine(),
    )
    print(result)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
