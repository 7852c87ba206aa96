"""Hybrid, keyword and semantic search and honest counts on the real PostgreSQL (#12).

The module owns ``postings`` while it runs (like test_search.py): 3,000 generated
postings embedded by the hashing embedder, plus hand-written needles that name a rare
tool exactly once, and two postings embedded by another model. Rows are COPYed the way
the sink writes them, so ``search_tsv`` is PostgreSQL's own generated column.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import numpy as np
import pytest

from api.search import InvalidCursor, PostingFilter, PostingRepository
from api.search.ranking import Ranking, SearchMode
from gateway.generator import embedding_text, generate
from schemas.domain import from_json
from schemas.embedding import make_embedder
from schemas.settings import Settings
from streams.sink.writer import register_vector_bytes
from tests.support.bench import COPY_COLUMNS, copy_rows

pytestmark = pytest.mark.integration

N = 3000
DIM = 384
EMBEDDER = make_embedder("hash", DIM)
OTHER_MODEL = "another-model"
HYBRID, SEMANTIC, KEYWORD = (Ranking(m) for m in SearchMode)

# id -> (title, skills, a sentence of the description)
NEEDLES: dict[str, tuple[str, list[str], str]] = {
    "needle-patroni": (
        "Database Reliability Engineer",
        ["postgresql", "patroni", "linux"],
        "You will run our PostgreSQL clusters with Patroni for automatic failover.",
    ),
    "needle-pgbackrest": (
        "PostgreSQL Administrator",
        ["postgresql", "pgbackrest"],
        "Backups with pgBackRest, restores tested every week.",
    ),
    "needle-docs": (
        "Technical Writer",
        ["technical writing", "docs-as-code", "markdown"],
        "We practise Docs-as-code: documentation lives in git beside the code.",
    ),
    "needle-cpp": (
        "C++ Game Engine Programmer",
        ["c++", "unreal engine"],
        "Write C++ for our rendering engine.",
    ),
    "needle-node": (
        "Backend Developer",
        ["node.js", "ci/cd"],
        "Node.js services shipped by our CI/CD pipelines.",
    ),
}
# Embedded by another model: found by their words, never compared with a query vector.
FOREIGN: dict[str, tuple[str, list[str], str]] = {
    "foreign-zyxtrel": ("Zyxtrel Platform Engineer", ["zyxtrel"], "Operate Zyxtrel at scale."),
    "foreign-plain": ("Customer Success Manager", ["onboarding"], "Help customers succeed."),
}


def _posting(base: dict[str, Any], pid: str, title: str, skills: list[str], text: str) -> Any:
    data = copy.deepcopy(base)
    data.update(id=pid, title=title, skills=skills, description=f"{text} {data['description']}")
    return data


@pytest.fixture(scope="module")
async def pool(stack: Settings) -> AsyncIterator[asyncpg.Pool]:
    generated = list(generate(N, seed=7))
    needles = [_posting(generated[i], pid, *spec) for i, (pid, spec) in enumerate(NEEDLES.items())]
    foreign = [_posting(generated[i], pid, *spec) for i, (pid, spec) in enumerate(FOREIGN.items())]
    events = []
    for postings, model in ((generated + needles, EMBEDDER.name), (foreign, OTHER_MODEL)):
        vectors = EMBEDDER.embed([embedding_text(p) for p in postings], "passage")
        for data, vector in zip(postings, vectors, strict=True):
            event = from_json(data)
            event.body.embedding = np.asarray(vector, dtype="<f4").tobytes()
            event.body.embedding_model = model
            events.append(event)
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        await register_vector_bytes(conn)
        await _clean(conn)
        rows = copy_rows(events, DIM)
        await conn.copy_records_to_table("postings", records=rows, columns=list(COPY_COLUMNS))
        await conn.execute("ANALYZE postings")
    finally:
        await conn.close()
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


async def _clean(conn: asyncpg.Connection) -> None:
    for (name,) in await conn.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'postings'"
        " AND (indexdef ILIKE '%USING ivfflat%' OR indexdef ILIKE '%USING hnsw%')"
    ):
        await conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    await conn.execute("DELETE FROM vector_index")
    await conn.execute("TRUNCATE postings")


@pytest.fixture
def repo(pool: asyncpg.Pool) -> PostingRepository:
    return PostingRepository(pool, dim=DIM, window=100, match_floor=0.2)


def query_vector(text: str) -> Any:
    return EMBEDDER.embed([text], "query")[0]


async def ids(
    repo: PostingRepository,
    text: str,
    ranking: Ranking,
    *,
    first: int = 10,
    f: PostingFilter | None = None,
    after: str | None = None,
) -> list[str]:
    page = await repo.search(
        query_vector(text),
        f or PostingFilter(),
        first=first,
        after=after,
        text=text,
        ranking=ranking,
        model=EMBEDDER.name,
    )
    return [h.posting_id for h in page.hits]


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("Patroni", "needle-patroni"),
        ("pgBackRest", "needle-pgbackrest"),
    ],
)
async def test_a_rare_exact_term_ranks_its_posting_first(
    repo: PostingRepository, query: str, needle: str
) -> None:
    assert await ids(repo, query, KEYWORD) == [needle]
    assert (await ids(repo, query, HYBRID))[0] == needle


async def test_a_term_with_aliases_finds_every_spelling(
    repo: PostingRepository, pool: asyncpg.Pool
) -> None:
    """Docs-as-code is an alias of the skill generated postings spell "docs as code"."""
    async with pool.acquire() as conn:
        spelt = await conn.fetch(
            "SELECT id FROM postings WHERE NOT deleted AND skills && $1::text[]",
            ["docs as code", "docs-as-code"],
        )
    found = await ids(repo, "Docs-as-code", KEYWORD, first=1000)
    assert "needle-docs" in found
    assert set(found) == {r["id"] for r in spelt}


@pytest.mark.parametrize("term", ["C++", "C#", "Node.js", "CI/CD", "pgBackRest"])
async def test_keyword_search_finds_exactly_the_postings_naming_a_tool(
    repo: PostingRepository, pool: asyncpg.Pool, term: str
) -> None:
    """C++ is not C nor C#, Node.js is one word: the lexical matches are the postings
    whose text contains the name (case aside)."""
    async with pool.acquire() as conn:
        naming = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM postings WHERE NOT deleted AND strpos(lower(title || ' '"
                " || company || ' ' || array_to_string(skills, ' ') || ' ' || description),"
                " lower($1)) > 0",
                term,
            )
        }
    assert set(await ids(repo, term, KEYWORD, first=1000)) == naming


async def test_words_that_match_nothing_leave_the_lexical_query(repo: PostingRepository) -> None:
    assert await ids(repo, "qwzxv", KEYWORD) == []
    # Korean words and a typo do not empty the AND of the words that do occur
    assert await ids(repo, "패트로니 Patroni qwzxv", KEYWORD) == ["needle-patroni"]


async def test_semantic_search_is_the_vector_ranking(repo: PostingRepository) -> None:
    found = await ids(repo, "Patroni", SEMANTIC, first=20)
    assert len(found) == 20  # every posting of the model is ranked, the needle or not


async def test_another_models_postings_are_found_by_words_never_by_vector(
    repo: PostingRepository,
) -> None:
    text = embedding_text({"title": "Zyxtrel Platform Engineer", "skills": ["zyxtrel"]})
    semantic = await ids(repo, text, SEMANTIC, first=1000)
    assert not {pid for pid in semantic if pid.startswith("foreign-")}
    assert "foreign-zyxtrel" in await ids(repo, "zyxtrel", KEYWORD)
    assert (await ids(repo, "zyxtrel", HYBRID))[0] == "foreign-zyxtrel"
    assert "foreign-plain" not in await ids(repo, "zyxtrel", HYBRID, first=200)


@pytest.mark.parametrize("ranking", [HYBRID, SEMANTIC, KEYWORD, Ranking(SearchMode.HYBRID, 0.8)])
async def test_cursors_page_through_every_mode_without_duplicates_or_gaps(
    repo: PostingRepository, ranking: Ranking
) -> None:
    text = "postgresql engineer"
    f = PostingFilter(remote_modes=("REMOTE", "HYBRID"))
    whole = await ids(repo, text, ranking, first=150, f=f)
    paged: list[str] = []
    after = None
    while len(paged) < 150:
        page = await repo.search(
            query_vector(text),
            f,
            first=13,
            after=after,
            text=text,
            ranking=ranking,
            model=EMBEDDER.name,
        )
        paged += [h.posting_id for h in page.hits]
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert paged[:150] == whole
    assert len(set(paged)) == len(paged)


async def test_a_cursor_continues_only_its_own_ranking(repo: PostingRepository) -> None:
    page = await repo.search(
        query_vector("python"), PostingFilter(), first=5, after=None, text="python", ranking=HYBRID
    )
    for other in (SEMANTIC, KEYWORD, Ranking(SearchMode.HYBRID, 0.7)):
        with pytest.raises(InvalidCursor):
            await repo.search(
                query_vector("python"),
                PostingFilter(),
                first=5,
                after=page.end_cursor,
                text="python",
                ranking=other,
            )


async def test_a_selective_filter_still_fills_hybrid_pages(
    repo: PostingRepository, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        city, n = await conn.fetchrow(
            "SELECT city, count(*) FROM postings WHERE NOT deleted AND city IS NOT NULL"
            " GROUP BY city HAVING count(*) BETWEEN 20 AND 60 ORDER BY count(*) LIMIT 1"
        )
    f = PostingFilter(city=city)  # about 1 % of the postings
    found = await ids(repo, "software engineer", HYBRID, first=20, f=f)
    assert len(found) == 20
    assert len(await ids(repo, "software engineer", HYBRID, first=100, f=f)) == n


async def test_counts_are_the_matches_not_the_table(repo: PostingRepository) -> None:
    table = await repo.count(PostingFilter())
    assert table == N + len(NEEDLES) + len(FOREIGN)

    async def count(text: str, mode: SearchMode) -> int:
        return await repo.count_matches(
            query_vector(text), PostingFilter(), text=text, mode=mode, model=EMBEDDER.name
        )

    assert await count("Patroni", SearchMode.KEYWORD) == 1
    assert await count("zyxtrel", SearchMode.KEYWORD) == 1
    assert await count("qwzxv", SearchMode.KEYWORD) == 0
    semantic = await count("Patroni", SearchMode.SEMANTIC)
    hybrid = await count("Patroni", SearchMode.HYBRID)
    assert semantic < table
    assert max(semantic, 1) <= hybrid <= semantic + 1 < table
    facets = await repo.facets_of_matches(
        query_vector("Patroni"), PostingFilter(), text="Patroni", mode=SearchMode.KEYWORD
    )
    assert sum(facets.remote_mode.values()) == 1
