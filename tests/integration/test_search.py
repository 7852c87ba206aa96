"""PostingRepository against the real PostgreSQL + pgvector, checked against numpy.

The module owns ``postings`` while it runs: it truncates the table, inserts 3,000
clustered postings (5 % tombstones) with SQL, and truncates again at the end (other
modules, the sink's, use the same table). The first part runs without a vector index
(the exact path); the last part creates an IVFFlat index and a ``vector_index`` row the
way the sink does, and drops both.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import numpy as np
import numpy.typing as npt
import pytest
from pgvector.asyncpg import register_vector

from api.search import (
    InvalidCursor,
    InvalidFilter,
    InvalidQuery,
    PostingFilter,
    PostingRepository,
    PostingView,
    SearchPage,
)
from api.search import sql as search_sql
from api.search.vectors import to_pgvector_text
from schemas.settings import Settings
from tests.support.search import (
    Row,
    exact_ranking,
    facet_counts,
    insert_rows,
    make_rows,
    matches,
)

pytestmark = pytest.mark.integration

N = 3000
DIM = 384
INDEX = "search_test_ivfflat"
TOL = 1e-5  # pgvector accumulates in float32; numpy here in float64


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return make_rows(N, seed=1, dim=DIM, centres=20)


@pytest.fixture(scope="module")
def queries() -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(99)
    data = make_rows(40, seed=1, dim=DIM, centres=20, tombstones=0.0)  # same centres
    base = np.stack([r.embedding for r in data if r.embedding is not None])
    noisy = base + rng.normal(scale=0.5 / np.sqrt(DIM), size=base.shape)
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


async def _drop_vector_indexes(conn: asyncpg.Connection) -> None:
    """Other modules (the sink's index manager, a rebuild's swap) may leave one; this
    module checks the exact path first, then only its own index."""
    for (name,) in await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'postings'"
        " AND (indexdef ILIKE '%USING ivfflat%' OR indexdef ILIKE '%USING hnsw%')"
    ):
        await conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    await conn.execute("DELETE FROM vector_index")


async def _clean(conn: asyncpg.Connection) -> None:
    await _drop_vector_indexes(conn)
    await conn.execute("TRUNCATE postings")


@pytest.fixture(scope="module")
async def pool(stack: Settings, rows: list[Row]) -> AsyncIterator[asyncpg.Pool]:
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        await _clean(conn)
        await insert_rows(conn, rows)
    finally:
        await conn.close()
    # No vector codec registered on purpose: the repository must not need one.
    pool = await asyncpg.create_pool(stack.postgres_dsn, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()
        conn = await asyncpg.connect(stack.postgres_dsn)
        try:
            await _clean(conn)
        finally:
            await conn.close()


@pytest.fixture
def repo(pool: asyncpg.Pool) -> PostingRepository:
    return PostingRepository(pool, dim=DIM)


async def all_pages(
    repo: PostingRepository, q: npt.NDArray[np.float32], f: PostingFilter, first: int
) -> list[SearchPage]:
    pages = [await repo.search(q, f, first=first, after=None)]
    while pages[-1].has_next_page:
        pages.append(await repo.search(q, f, first=first, after=pages[-1].end_cursor))
        assert len(pages) < 10_000
    return pages


def assert_matches_exact(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    """Same ids, and at each rank the same distance (ties within float tolerance may swap)."""
    assert len(got) == len(want)
    assert {i for i, _ in got} == {i for i, _ in want}
    for (_, d_got), (_, d_want) in zip(got, want, strict=True):
        assert d_got == pytest.approx(d_want, abs=TOL)


FILTERS = {
    "none": PostingFilter(),
    "experience_min": PostingFilter(experience_min_years=10),
    "experience_max": PostingFilter(experience_max_years=1),
    "experience_range": PostingFilter(experience_min_years=3, experience_max_years=4),
    "english": PostingFilter(english_levels=("business", "FLUENT")),
    "remote": PostingFilter(remote_modes=["REMOTE"]),  # type: ignore[arg-type]
    "employment": PostingFilter(employment_types=("CONTRACT", "INTERNSHIP")),
    "country": PostingFilter(country_code="de"),
    "city_ascii": PostingFilter(city="hamburg"),
    "city_unicode": PostingFilter(city=" MÜNCHEN "),
    "city_lower_stored": PostingFilter(city="Kraków"),
    "skills_all": PostingFilter(skills_all=("Python", "  KAFKA ")),
    "skills_any": PostingFilter(skills_any=("rust", "go", "machine   learning")),
    "salary": PostingFilter(salary_min=150_000),
    "currency": PostingFilter(currency="eur"),
    "posted_after": PostingFilter(posted_after=datetime(2025, 10, 1, tzinfo=UTC)),
    "combined": PostingFilter(
        experience_min_years=2,
        english_levels=("FLUENT", "NATIVE", "BUSINESS"),
        remote_modes=("REMOTE", "HYBRID"),
        skills_any=("python", "sql", "java"),
        salary_min=60_000,
    ),
    "combined_narrow": PostingFilter(
        country_code="PL",
        city="WARSAW",
        skills_all=("python",),
        currency="PLN",
        posted_after=datetime(2025, 3, 1, tzinfo=UTC),
    ),
    "nothing": PostingFilter(country_code="GB", city="Berlin"),
}


@pytest.mark.parametrize("name", list(FILTERS))
async def test_filter_results_count_and_facets_match_python(
    repo: PostingRepository,
    rows: list[Row],
    queries: npt.NDArray[np.float32],
    name: str,
) -> None:
    f = FILTERS[name]
    expected_count = sum(matches(r, f) for r in rows)
    if name != "nothing":
        assert expected_count > 0, "the test data must exercise this filter"
    assert await repo.count(f) == expected_count
    assert (await repo.facets(f)).to_dict() == facet_counts(rows, f)

    q = queries[hash(name) % len(queries)]
    pages = await all_pages(repo, q, f, first=100)
    got = [(h.posting_id, 1.0 - h.score) for p in pages for h in p.hits]
    assert_matches_exact(got, exact_ranking(rows, q, f))
    assert all(len(p.hits) == 100 for p in pages[:-1])
    assert repo.stats.index_searches == repo.stats.fallbacks == 0  # no index yet: exact


async def test_pages_concatenate_to_one_exact_query(
    repo: PostingRepository, queries: npt.NDArray[np.float32]
) -> None:
    f = PostingFilter(remote_modes=("REMOTE", "HYBRID"))
    q = queries[3]
    total = await repo.count(f)
    whole = await repo.search(q, f, first=1000, after=None)
    pages = await all_pages(repo, q, f, first=7)
    ids = [h.posting_id for p in pages for h in p.hits]
    assert len(ids) == len(set(ids)) == total
    assert ids[:1000] == [h.posting_id for h in whole.hits]
    rest = await repo.search(q, f, first=1000, after=whole.end_cursor)
    assert ids[1000:2000] == [h.posting_id for h in rest.hits]
    assert [p.has_next_page for p in pages] == [True] * (len(pages) - 1) + [False]
    scores = [h.score for p in pages for h in p.hits]
    assert scores == sorted(scores, reverse=True)


async def test_ties_are_ordered_by_id_across_pages(
    pool: asyncpg.Pool, repo: PostingRepository, rows: list[Row]
) -> None:
    """Reposted jobs share an embedding: identical distances must still page cleanly."""
    source = next(r for r in rows if not r.deleted)
    assert source.embedding is not None
    copies = [
        Row(**{**source.__dict__, "id": f"tie{i:02d}"})  # same vector, same attributes
        for i in range(12)
    ]
    async with pool.acquire() as conn:
        await insert_rows(conn, copies)
    try:
        f = PostingFilter(country_code=source.country_code, city=source.city)
        pages = await all_pages(repo, source.embedding, f, first=5)
        ids = [h.posting_id for p in pages for h in p.hits]
        tied = sorted([source.id] + [c.id for c in copies])
        assert ids[: len(tied)] == tied
        assert len(ids) == len(set(ids)) == await repo.count(f)
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DELETE FROM postings WHERE id LIKE 'tie%'")


async def test_cursor_is_checked(repo: PostingRepository, queries: npt.NDArray[np.float32]) -> None:
    f = PostingFilter(remote_modes=("REMOTE",))
    page = await repo.search(queries[0], f, first=5, after=None)
    assert page.end_cursor is not None
    raw = json.loads(base64.urlsafe_b64decode(page.end_cursor + "=="))
    edited = dict(raw, d=raw["d"] + 0.01)
    forged = base64.urlsafe_b64encode(json.dumps(edited).encode()).decode().rstrip("=")
    for bad in ("", "not a cursor", "e30", page.end_cursor[:-3], forged, "x" * 5000):
        with pytest.raises(InvalidCursor) as err:
            await repo.search(queries[0], f, first=5, after=bad)
        assert err.value.field == "after"
    with pytest.raises(InvalidCursor, match="other filters"):
        await repo.search(queries[0], PostingFilter(), first=5, after=page.end_cursor)
    # The same filter written differently is the same search: the cursor is accepted.
    same = PostingFilter(remote_modes=("remote", "REMOTE"))
    nxt = await repo.search(queries[0], same, first=5, after=page.end_cursor)
    assert nxt.hits[0].score <= page.hits[-1].score


@pytest.mark.parametrize(
    ("f", "field"),
    [
        (PostingFilter(experience_min_years=-1), "experience_min_years"),
        (PostingFilter(experience_max_years=51), "experience_max_years"),
        (PostingFilter(experience_min_years=5, experience_max_years=2), "experience_min_years"),
        (PostingFilter(english_levels=("GOOD",)), "english_levels"),
        (PostingFilter(remote_modes=("ANYWHERE",)), "remote_modes"),
        (PostingFilter(employment_types=("FULLTIME",)), "employment_types"),
        (PostingFilter(country_code="XX"), "country_code"),
        (PostingFilter(country_code="DEU"), "country_code"),
        (PostingFilter(city="  "), "city"),
        (PostingFilter(city="a\nb"), "city"),
        (PostingFilter(skills_all=tuple(f"s{i}" for i in range(51))), "skills_all"),
        (PostingFilter(skills_any=("",)), "skills_any"),
        (PostingFilter(salary_min=-5), "salary_min"),
        (PostingFilter(currency="EURO"), "currency"),
        (PostingFilter(posted_after=datetime(2025, 1, 1)), "posted_after"),
    ],
)
async def test_invalid_filters_name_the_field(
    repo: PostingRepository, queries: npt.NDArray[np.float32], f: PostingFilter, field: str
) -> None:
    with pytest.raises(InvalidFilter) as err:
        f.validate()
    assert err.value.field == field
    for call in (
        repo.search(queries[0], f, first=5, after=None),
        repo.count(f),
        repo.facets(f),
    ):
        with pytest.raises(InvalidFilter) as err:
            await call
        assert err.value.field == field


async def test_invalid_query_vector_and_page_size(repo: PostingRepository) -> None:
    good = np.ones(DIM, np.float32)
    for vector in (np.ones(3, np.float32), np.zeros(DIM), np.full(DIM, np.nan), [[1.0] * DIM]):
        with pytest.raises(InvalidQuery) as err:
            await repo.search(vector, PostingFilter(), first=5, after=None)
        assert err.value.field == "vector"
    for first in (0, -1, 1001, True):
        with pytest.raises(InvalidQuery) as err:
            await repo.search(good, PostingFilter(), first=first, after=None)
        assert err.value.field == "first"


async def test_get_and_get_many_skip_tombstones(repo: PostingRepository, rows: list[Row]) -> None:
    live = [r for r in rows if not r.deleted][:5]
    dead = [r for r in rows if r.deleted][:3]
    got = await repo.get_many([r.id for r in live + dead] + ["unknown", live[0].id])
    assert set(got) == {r.id for r in live}
    view = got[live[0].id]
    r = live[0]
    assert (view.city, view.country_code, view.remote_mode, view.english_level) == (
        r.city,
        r.country_code,
        r.remote_mode,
        r.english_level,
    )
    assert view.skills == r.skills
    assert (view.salary_min, view.salary_max, view.salary_currency) == (
        r.salary_min,
        r.salary_max,
        r.salary_currency,
    )
    assert view.posted_at == r.posted_at
    assert PostingView.from_dict(json.loads(json.dumps(view.to_dict()))) == view
    assert await repo.get(live[1].id) == got[live[1].id]
    assert await repo.get(dead[0].id) is None
    assert await repo.get("nope") is None
    assert await repo.get_many([]) == {}


async def test_similar_excludes_itself_and_matches_exact(
    repo: PostingRepository, rows: list[Row]
) -> None:
    target = next(r for r in rows[100:] if not r.deleted)
    assert target.embedding is not None
    hits = await repo.similar(target.id, first=10)
    want = [x for x in exact_ranking(rows, target.embedding, PostingFilter()) if x[0] != target.id]
    assert target.id not in {h.posting_id for h in hits}
    assert_matches_exact([(h.posting_id, 1 - h.score) for h in hits], want[:10])
    dead = next(r for r in rows if r.deleted)
    assert await repo.similar(dead.id, first=10) == []
    assert await repo.similar("unknown", first=10) == []


async def test_works_with_the_binary_vector_codec_registered(
    stack: Settings, repo: PostingRepository, queries: npt.NDArray[np.float32]
) -> None:
    pool = await asyncpg.create_pool(
        stack.postgres_dsn, min_size=1, max_size=1, init=register_vector
    )
    try:
        other = PostingRepository(pool, dim=DIM)
        f = PostingFilter(skills_any=("python",))
        assert await other.search(queries[1], f, first=20, after=None) == await repo.search(
            queries[1], f, first=20, after=None
        )
    finally:
        await pool.close()


# --- with an IVFFlat index (created as the sink does, described in vector_index) -------

LISTS = 30  # 100 rows per list


@pytest.fixture(scope="module")
async def ivfflat(stack: Settings, pool: asyncpg.Pool) -> AsyncIterator[int]:
    # Fewer probes than the sink's ceil(sqrt(lists)) = 6: with 2 lists of ~100 rows a
    # 2 % filter leaves ~4 rows, so a page of 10 needs the iterative scan.
    probes = 2
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        # Only this module's index: drop any a worker's index manager left from other tests.
        for (name,) in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'postings'"
            " AND (indexdef ILIKE '%USING ivfflat%' OR indexdef ILIKE '%USING hnsw%')"
        ):
            await conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        await conn.execute("DELETE FROM vector_index")
        await conn.execute(
            f"CREATE INDEX {INDEX} ON postings"
            f" USING ivfflat (embedding vector_cosine_ops) WITH (lists = {LISTS})"
        )
        await conn.execute(
            "INSERT INTO vector_index"
            " (name, method, opclass, lists, probes, rows_at_build, build_seconds)"
            " VALUES ($1, 'ivfflat', 'vector_cosine_ops', $2, $3, $4, 0.1)",
            INDEX,
            LISTS,
            probes,
            N,
        )
        await conn.execute("ANALYZE postings")
        yield probes
    finally:
        await conn.execute(f"DROP INDEX IF EXISTS {INDEX}")
        await conn.execute("DELETE FROM vector_index WHERE name = $1", INDEX)
        await conn.close()


# ~2.8 % of the rows, on columns without a B-tree index (with one, e.g. country_code, the
# planner rightly prefers that index and an exact sort of its few rows).
SELECTIVE = PostingFilter(
    employment_types=("CONTRACT",), remote_modes=("REMOTE",), english_levels=("FLUENT", "NATIVE")
)


async def test_selective_filter_returns_full_pages_through_the_index(
    ivfflat: int,
    pool: asyncpg.Pool,
    repo: PostingRepository,
    rows: list[Row],
    queries: npt.NDArray[np.float32],
) -> None:
    share = sum(matches(r, SELECTIVE) for r in rows) / len(rows)
    assert 0.01 < share < 0.04, share
    # Without iterative scans the same index scan returns a short page: the test is real.
    # One probe (~100 rows, ~3 matches expected) is short for most queries, but k-means
    # draws the lists at random and a list can hold 11 matches: take the first query
    # whose one-probe page is short (one in the first few always is).
    q = None
    for candidate in queries[5:15]:
        text = to_pgvector_text(candidate, DIM)
        query, args = search_sql.index_search(SELECTIVE.normalized(), text, None, 11, 22)
        async with pool.acquire() as conn, conn.transaction():
            # enable_sort = off as well: otherwise a full scan of another index plus a sort
            # can win on cost, and that exact plan returns a full page. (A new statement
            # text: a cached plan of the same text would ignore enable_seqscan.)
            await conn.execute(
                "SET LOCAL ivfflat.probes = 1; SET LOCAL enable_seqscan = off;"
                " SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
            )
            probe = "/* no iterative scan */ " + query
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + probe, *args))
            assert INDEX in plan, plan
            if len(await conn.fetch(probe, *args)) < 11:
                q = candidate
                break
    assert q is not None, "no query's one-probe index scan gave a short page"
    exact = exact_ranking(rows, q, SELECTIVE)

    pages = await all_pages(repo, q, SELECTIVE, first=10)
    # The first pages come from the iterative index scan; deeper ones, once the scan hits
    # ivfflat.max_probes, from the exact fallback. Either way: full pages, in order.
    assert repo.stats.index_searches >= 2
    assert repo.stats.index_searches + repo.stats.fallbacks == len(pages) >= 4
    assert all(len(p.hits) == 10 for p in pages[:-1])
    got = [(h.posting_id, 1 - h.score) for p in pages for h in p.hits]
    ids = [i for i, _ in got]
    assert len(ids) == len(set(ids))
    assert [d for _, d in got] == sorted(d for _, d in got)
    assert set(ids) <= {i for i, _ in exact}
    assert len(ids) >= 0.95 * len(exact)
    first_page = {h.posting_id for h in pages[0].hits}
    assert len(first_page & {i for i, _ in exact[:10]}) >= 9


async def test_unfiltered_index_search_recall(
    ivfflat: int, repo: PostingRepository, rows: list[Row], queries: npt.NDArray[np.float32]
) -> None:
    recalls = []
    for q in queries[:20]:
        page = await repo.search(q, PostingFilter(), first=10, after=None)
        truth = {i for i, _ in exact_ranking(rows, q, PostingFilter())[:10]}
        recalls.append(len(truth & {h.posting_id for h in page.hits}) / 10)
    assert repo.stats.index_searches == 20
    assert np.mean(recalls) >= 0.9


async def test_last_page_falls_back_to_exact(
    ivfflat: int, repo: PostingRepository, rows: list[Row], queries: npt.NDArray[np.float32]
) -> None:
    f = PostingFilter(city="hamburg", skills_all=("python",))
    want = exact_ranking(rows, queries[7], f)
    assert 0 < len(want) < 50
    page = await repo.search(queries[7], f, first=50, after=None)
    assert_matches_exact([(h.posting_id, 1 - h.score) for h in page.hits], want)
    assert not page.has_next_page
    assert repo.stats.fallbacks == 1


async def test_similar_of_many_postings_goes_through_the_index_in_one_statement(
    ivfflat: int, repo: PostingRepository, pool: asyncpg.Pool, rows: list[Row]
) -> None:
    # 30 sources: the mean recall of 10 swung by 0.05 with IVFFlat's random k-means.
    sources = [r for r in rows if not r.deleted and r.embedding is not None][:30]
    found = await repo.similar_many([r.id for r in sources] + ["unknown"], first=10)
    assert repo.stats.index_searches == 1
    assert found["unknown"] == []
    recalls = []
    for r in sources:
        assert r.embedding is not None
        truth = [x for x in exact_ranking(rows, r.embedding, PostingFilter()) if x[0] != r.id]
        got = [h.posting_id for h in found[r.id]]
        assert r.id not in got
        assert len(got) == 10
        recalls.append(len({i for i, _ in truth[:10]} & set(got)) / 10)
    assert np.mean(recalls) >= 0.9
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"SET LOCAL ivfflat.probes = {ivfflat}")
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) " + search_sql.similar_many(index=True),
            [r.id for r in sources],
            10,
            30,
        )
    assert INDEX in str(plan)


async def _generic_plan(conn: asyncpg.Connection, query: str, args: list[object]) -> str:
    """The plan a cached prepared statement would run (generic: no parameter values)."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        stmt = await conn.prepare("EXPLAIN (FORMAT JSON) " + query)
        return str(await stmt.fetchval(*args))
    finally:
        await conn.execute("RESET plan_cache_mode")


async def test_plans_use_the_index_only_on_the_index_path(
    ivfflat: int, pool: asyncpg.Pool, queries: npt.NDArray[np.float32]
) -> None:
    text = to_pgvector_text(queries[0], DIM)
    f = FILTERS["combined"].normalized()
    index_q = search_sql.index_search(f, text, None, 11, 22)
    exact_q = search_sql.exact_search(f, text, None, 11)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"SET LOCAL ivfflat.probes = {ivfflat};"
            " SET LOCAL ivfflat.iterative_scan = relaxed_order"
        )
        for query, args in (index_q, exact_q):
            for _ in range(6):  # past asyncpg/PostgreSQL's switch to a cached generic plan
                await conn.fetch(query, *args)
        index_plan = await _generic_plan(conn, *index_q)
        exact_plan = await _generic_plan(conn, *exact_q)
        custom = str(await conn.fetchval("EXPLAIN (FORMAT JSON) " + index_q[0], *index_q[1]))
    assert INDEX in index_plan
    assert INDEX in custom
    # relaxed_order output is re-sorted for real, not trusted as presorted
    assert '"Node Type": "Sort"' in index_plan
    assert "Incremental Sort" not in index_plan
    assert INDEX not in exact_plan
