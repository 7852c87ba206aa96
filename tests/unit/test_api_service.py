"""SearchService caching rules, with a fake repository and the real TieredCache (L1 only).

The real repository and Redis are exercised by tests/integration/test_api.py; here the
fakes count calls so the rules themselves are pinned down: embeddings keyed by the
normalised text and computed off the event loop, postings of a page loaded in one batch
and always by id, edge cursors that resume exactly after their edge.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from api.cache import TieredCache
from api.search import (
    Facets,
    InvalidCursor,
    InvalidQuery,
    PostingFilter,
    PostingView,
    SearchHit,
    SearchPage,
)
from api.search.ranking import Ranking, SearchMode
from api.service import BadInput, NotFound, SearchService
from schemas.jobstream.v1 import events_pb2
from schemas.settings import Settings

IDS = [f"p{i}" for i in range(10)]


def view(posting_id: str, version: int = 1) -> PostingView:
    return PostingView(
        id=posting_id,
        version=version,
        title=f"title {posting_id} v{version}",
        company="Acme",
        city="Berlin",
        country_code="DE",
        remote_mode="REMOTE",
        employment_type="FULL_TIME",
        experience_min_years=1,
        experience_max_years=3,
        english_level="BASIC",
        skills=("python",),
        salary_min=None,
        salary_max=None,
        salary_currency=None,
        description="",
        posted_at=datetime(2026, 1, 1, tzinfo=UTC),
        embedding_model="fake",
    )


class FakeRepository:
    """Ranks IDS in order; cursors are "c<index>"."""

    def __init__(self) -> None:
        self.rows = {pid: view(pid) for pid in IDS}
        self.searches: list[tuple[int, str | None]] = []
        self.get_many_calls: list[list[str]] = []
        self.similar_calls: list[tuple[list[str], int]] = []
        self.rankings: list[dict[str, Any]] = []
        self.counted: list[tuple[bool, str, SearchMode]] = []

    async def search(
        self,
        vector: Any,
        filter: PostingFilter,
        *,
        first: int,
        after: str | None,
        **ranked: Any,  # text, ranking, model
    ) -> SearchPage:
        self.searches.append((first, after))
        self.rankings.append(ranked)
        if after is not None and not after.startswith("c"):
            raise InvalidCursor("not a cursor")
        start = 0 if after is None else int(after[1:]) + 1
        hits = tuple(SearchHit(pid, 1.0 - i / 100) for i, pid in enumerate(IDS))[start:]
        page = hits[:first]
        end = None if not page else f"c{start + len(page) - 1}"
        return SearchPage(hits=page, end_cursor=end, has_next_page=len(hits) > first)

    async def get_many(self, ids: Sequence[str]) -> dict[str, PostingView]:
        self.get_many_calls.append(list(ids))
        return {pid: self.rows[pid] for pid in ids if pid in self.rows}

    async def similar_many(
        self, posting_ids: Sequence[str], *, first: int
    ) -> dict[str, list[SearchHit]]:
        self.similar_calls.append((list(posting_ids), first))
        return {
            source: [SearchHit(pid, 0.5) for pid in IDS if pid != source][:first]
            for source in posting_ids
        }

    async def facets(self, filter: PostingFilter) -> Facets:
        return Facets.empty()

    async def count(self, filter: PostingFilter) -> int:
        return len(self.rows)

    async def count_matches(
        self, vector: Any, filter: PostingFilter, *, text: str, mode: SearchMode, model: str
    ) -> int:
        self.counted.append((vector is not None, text, mode))
        return 2

    async def facets_of_matches(
        self, vector: Any, filter: PostingFilter, *, text: str, model: str
    ) -> Facets:
        return Facets.empty()


class FakeEmbedder:
    name = "fake"
    dim = 384

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.kinds: list[str] = []
        self.threads: set[int] = set()

    def embed(self, texts: Sequence[str], kind: str = "passage") -> Any:
        self.texts.extend(texts)
        self.kinds.append(kind)
        self.threads.add(threading.get_ident())
        out = np.ones((len(texts), self.dim), dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def parts() -> tuple[SearchService, FakeRepository, FakeEmbedder, TieredCache]:
    settings = Settings(max_page_size=5, max_query_chars=50)
    cache = TieredCache(settings, None)
    repo, embedder = FakeRepository(), FakeEmbedder()
    service = SearchService(settings, repo, cache, embedder)  # type: ignore[arg-type]
    return service, repo, embedder, cache


async def test_embeddings_are_cached_by_normalised_text_and_computed_off_the_loop(
    parts: tuple[SearchService, FakeRepository, FakeEmbedder, TieredCache],
) -> None:
    service, _, embedder, _ = parts
    await service.search("Python  Developer", PostingFilter(), 3, None)
    await service.search(" python developer ", PostingFilter(), 4, None)
    await service.facets("PYTHON DEVELOPER", PostingFilter())
    assert embedder.texts == ["python developer"]
    assert embedder.kinds == ["query"]  # E5 embeds search text unlike postings
    assert threading.get_ident() not in embedder.threads


async def test_a_page_loads_its_postings_in_one_batch_and_by_id(
    parts: tuple[SearchService, FakeRepository, FakeEmbedder, TieredCache],
) -> None:
    service, repo, _, cache = parts
    page, postings = await service.search("q", PostingFilter(), 5, None)
    assert [h.posting_id for h in page.hits] == IDS[:5]
    assert set(postings) == set(IDS[:5])
    assert repo.get_many_calls == [IDS[:5]]

    # A changed posting is evicted by id: the cached page is reused, the posting is not.
    repo.rows["p1"] = view("p1", 2)
    del repo.rows["p2"]
    event = events_pb2.Invalidation(
        postings=[
            events_pb2.ChangedPosting(id="p1", version=2),
            events_pb2.ChangedPosting(id="p2", version=2, deleted=True),
        ]
    )
    cache.apply_invalidation(event, 0)
    page2, postings2 = await service.search("q", PostingFilter(), 5, None)
    assert [h.posting_id for h in page2.hits] == IDS[:5]
    assert postings2["p1"].version == 2
    assert "p2" not in postings2
    assert sorted(repo.get_many_calls[1]) == ["p1", "p2"]


async def test_edge_cursors_resume_right_after_their_edge(
    parts: tuple[SearchService, FakeRepository, FakeEmbedder, TieredCache],
) -> None:
    service, _, _, _ = parts
    page, _ = await service.search("q", PostingFilter(), 4, None)
    cursors = service.edge_cursors(None, page)
    assert cursors[-1] == page.end_cursor == "c3"
    for index, cursor in enumerate(cursors):
        nxt, _ = await service.search("q", PostingFilter(), 3, cursor)
        assert [h.posting_id for h in nxt.hits] == IDS[index + 1 : index + 4]
        # cursors of a page fetched with an edge cursor keep counting from its base
        for j, inner in enumerate(service.edge_cursors(cursor, nxt)):
            again, _ = await service.search("q", PostingFilter(), 1, inner)
            assert [h.posting_id for h in again.hits] == IDS[index + j + 2 : index + j + 3]


async def test_limits_and_not_found(
    parts: tuple[SearchService, FakeRepository, FakeEmbedder, TieredCache],
) -> None:
    service, _, _, _ = parts
    with pytest.raises(BadInput, match="JOBSTREAM_MAX_PAGE_SIZE") as info:
        await service.search("q", PostingFilter(), 6, None)
    assert info.value.field == "first"
    with pytest.raises(BadInput, match="JOBSTREAM_MAX_QUERY_CHARS"):
        await service.search("q" * 51, PostingFilter(), 1, None)
    with pytest.raises(BadInput, match="some text"):
        await service.search(" \t", PostingFilter(), 1, None)
    with pytest.raises(NotFound, match="nope"):
        await service.posting("nope")
    assert (await service.posting("p3")).id == "p3"
    similar = await service.similar("p0", 2)
    assert [view.id for _, view in similar] == ["p1", "p2"]
    assert await service.count(PostingFilter()) == len(IDS)
    assert (await service.facets("  ", PostingFilter())) == Facets.empty()


async def test_the_ranking_is_part_of_the_key_and_keyword_search_embeds_nothing(
    parts: tuple[SearchService, FakeRepository, FakeEmbedder, TieredCache],
) -> None:
    service, repo, embedder, _ = parts
    await service.search("rust", PostingFilter(), 3, None)  # HYBRID, 0.5 by default
    await service.search("rust", PostingFilter(), 3, None, Ranking(SearchMode.HYBRID, 0.5))
    await service.search("rust", PostingFilter(), 3, None, Ranking(SearchMode.HYBRID, 0.8))
    await service.search("rust", PostingFilter(), 3, None, Ranking(SearchMode.SEMANTIC))
    assert len(repo.searches) == 3  # the second one was cached
    assert [r["ranking"] for r in repo.rankings] == [
        Ranking(SearchMode.HYBRID),
        Ranking(SearchMode.HYBRID, 0.8),
        Ranking(SearchMode.SEMANTIC),
    ]
    assert {r["model"] for r in repo.rankings} == {"fake"}
    await service.search("golang", PostingFilter(), 3, None, Ranking(SearchMode.KEYWORD))
    assert repo.rankings[-1]["text"] == "golang"
    assert "golang" not in embedder.texts


async def test_a_count_with_a_query_counts_its_matches_per_mode(
    parts: tuple[SearchService, FakeRepository, FakeEmbedder, TieredCache],
) -> None:
    service, repo, _, _ = parts
    assert await service.count(PostingFilter()) == len(IDS)  # no query: the filtered set
    assert await service.count(PostingFilter(), " Rust ") == 2
    assert await service.count(PostingFilter(), "rust", SearchMode.KEYWORD) == 2
    assert await service.count(PostingFilter(), "rust") == 2  # cached
    assert repo.counted == [(True, "rust", SearchMode.HYBRID), (False, "rust", SearchMode.KEYWORD)]


def test_semantic_weight_is_checked_and_named() -> None:
    for weight in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidQuery) as caught:
            Ranking(SearchMode.HYBRID, weight)
        assert caught.value.field == "semanticWeight"
