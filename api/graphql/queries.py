"""Root query fields; each is a thin mapping onto :class:`api.service.SearchService`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.graphql import alerts
from api.graphql.context import ContextInfo
from api.graphql.inputs import PostingFilterInput, to_filter
from api.graphql.types import (
    CacheLevelStats,
    CacheStats,
    Facets,
    PageInfo,
    Posting,
    PostingConnection,
    PostingEdge,
)
from api.search.ranking import DEFAULT_SEMANTIC_WEIGHT, Ranking, SearchMode

DEFAULT_FIRST = 20
SEARCH_DESCRIPTION = "Postings ranked by their words and their meaning (mode), filtered exactly."


def cache_stats(info: ContextInfo) -> CacheStats:
    """The cache's counters as GraphQL; levels are L1 (in-process) and L2 (Redis)."""
    stats = info.context.cache.stats()
    levels = [
        CacheLevelStats(
            level="l1", hits=stats.l1_hits, misses=stats.l1_misses, hit_rate=stats.l1_hit_rate
        ),
        CacheLevelStats(
            level="l2", hits=stats.l2_hits, misses=stats.l2_misses, hit_rate=stats.l2_hit_rate
        ),
    ]
    hits = stats.l1_hits + stats.l2_hits
    lookups = stats.l1_hits + stats.l1_misses  # every lookup starts at L1
    return CacheStats(
        levels=levels,
        hits=hits,
        misses=lookups - hits,
        hit_rate=stats.hit_rate,
        generation=stats.generation,
        redis_healthy=stats.redis_healthy,
    )


@strawberry.type
class Query:
    saved_search = alerts.SAVED_SEARCH
    alerts = alerts.ALERTS

    @strawberry.field(description=SEARCH_DESCRIPTION)  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def search(
        self,
        info: ContextInfo,
        query: Annotated[str, strawberry.argument(description="What to look for.")],
        filter: PostingFilterInput | None = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size (max JOBSTREAM_MAX_PAGE_SIZE).")
        ] = DEFAULT_FIRST,
        after: Annotated[
            str | None, strawberry.argument(description="A cursor from a previous page.")
        ] = None,
        mode: Annotated[
            SearchMode | None,
            strawberry.argument(description="How to rank; a cursor continues only its own mode."),
        ] = SearchMode.HYBRID,
        semantic_weight: Annotated[
            float | None,
            strawberry.argument(
                description="HYBRID only: the meaning's share of the fusion, 0 to 1 (0.5)."
            ),
        ] = None,
    ) -> PostingConnection:
        service = info.context.service
        posting_filter = to_filter(filter)
        size = DEFAULT_FIRST if first is None else first
        chosen = SearchMode.HYBRID if mode is None else mode
        weight = DEFAULT_SEMANTIC_WEIGHT if semantic_weight is None else semantic_weight
        ranking = Ranking(chosen, weight)
        page, postings = await service.search(query, posting_filter, size, after, ranking)
        cursors = service.edge_cursors(after, page)
        shown = [postings[hit.posting_id] for hit in page.hits if hit.posting_id in postings]
        highlights = service.page_highlights(query, ranking, shown)
        edges = [
            PostingEdge(
                cursor=cursor,
                node=Posting.from_view(postings[hit.posting_id]),
                score=hit.score,
                highlight_of=highlights,
            )
            for hit, cursor in zip(page.hits, cursors, strict=True)
            if hit.posting_id in postings
        ]
        end_cursor = cursors[-1] if cursors else None
        return PostingConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=end_cursor),
            count_total=lambda: service.count(posting_filter, query, chosen),
            skill_suggestions=lambda: service.suggestions(query, posting_filter),
        )

    @strawberry.field(description="One posting by id; NOT_FOUND if absent or deleted.")  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def posting(self, info: ContextInfo, id: strawberry.ID) -> Posting | None:
        return Posting.from_view(await info.context.service.posting(str(id)))

    @strawberry.field(description="Counts per value of each facet for the filter (and query).")  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def facets(
        self,
        info: ContextInfo,
        query: str | None = None,
        filter: PostingFilterInput | None = None,
    ) -> Facets:
        data = await info.context.service.facets(query, to_filter(filter))
        return Facets.from_data(data)

    @strawberry.field(description="Hits and misses of this API process's caches.")  # type: ignore[untyped-decorator]  # strawberry types it Any
    def cache_stats(self, info: ContextInfo) -> CacheStats:
        return cache_stats(info)
