"""The one query path of the API: embeddings, search pages, postings, facets, all cached.

GraphQL resolvers and the web UI both call :class:`SearchService`, so caching rules and
limits live in one place:

- query embeddings: kind ``embedding``, key = the embedder's model and dimension + the
  normalised query text (NFKC, casefold, whitespace collapsed), computed in a thread
  (MiniLM takes ms of CPU); the model in the key means instances on another embedder
  (``JOBSTREAM_EMBEDDER``), sharing the Redis, never serve each other's vectors or pages;
- search pages, facets, counts and similar-lists: generational (any committed change
  bumps the generation, so a cached page never outlives the data it was computed on
  by more than the invalidation delay); key = normalised query + filter + paging, and
  for what depends on the query (search pages, counts and facets of a query) the
  ranking (mode and semantic weight) and the embedder's model and dimension;
- postings by id: kind ``posting`` (one MGET and one batch load per page), evicted per id
  by invalidation events. A search page only holds ids and scores; its postings are
  always fetched by id through the cache, so an evicted (changed or deleted) posting is
  never served stale from a cached page.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from api.cache import POSTING, JsonCodec, NumpyCodec, TieredCache
from api.highlighting import Highlighter, PageHighlights
from api.search import (
    MAX_FIRST,
    Facets,
    PostingFilter,
    PostingRepository,
    PostingView,
    SearchHit,
    SearchPage,
)
from api.search.ranking import Ranking, SearchMode
from api.search.skills import Suggestion
from schemas.domain.errors import InvalidPosting
from schemas.domain.limits import ID_MAX_LEN, ID_PATTERN
from schemas.domain.text import shown
from schemas.domain.text import text as domain_text
from schemas.embedding import Embedder
from schemas.errors import BadInputError, NotFoundError
from schemas.settings import Settings

T = TypeVar("T")
HYBRID = Ranking(SearchMode.HYBRID)  # what a search without a mode does
_SPACE = re.compile(r"\s+")


class BadInput(BadInputError):
    """A request the service refuses; ``field`` names the argument, the message the limit."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class NotFound(NotFoundError):
    """The posting does not exist (never did, or is deleted)."""


_EDGE_PREFIX = "e1:"


def edge_cursor(base: str | None, skip: int) -> str:
    """A cursor pointing after the ``skip``-th hit following the repository cursor ``base``.

    The repository only names the end of a page; Relay wants a cursor on every edge.
    Resuming from one re-reads ``skip`` hits of the page after ``base`` and drops them.
    """
    raw = json.dumps([base, skip], separators=(",", ":")).encode()
    return _EDGE_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def split_cursor(after: str | None) -> tuple[str | None, int]:
    """(repository cursor, hits to skip) of an ``after`` argument; BadInput if garbled."""
    if after is None or not after.startswith(_EDGE_PREFIX):
        return after, 0
    body = after.removeprefix(_EDGE_PREFIX)
    try:
        base, skip = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise BadInput("after", "after is not a cursor this API returned") from None
    if not (base is None or isinstance(base, str)) or not isinstance(skip, int) or skip < 0:
        raise BadInput("after", "after is not a cursor this API returned")
    return base, skip


def normalise_query(text: str) -> str:
    """The cache key of a query: equal for texts a user would consider the same."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _page_codec() -> JsonCodec[SearchPage]:
    return JsonCodec(SearchPage.to_dict, SearchPage.from_dict)


def _hits_to_dict(hits: list[SearchHit]) -> dict[str, Any]:
    return {"hits": [[h.posting_id, h.score] for h in hits]}


def _hits_from_dict(data: dict[str, Any]) -> list[SearchHit]:
    return [SearchHit(str(pid), float(score)) for pid, score in data["hits"]]


def _count_to_dict(count: int) -> dict[str, Any]:
    return {"count": count}


def _count_from_dict(data: dict[str, Any]) -> int:
    return int(data["count"])


class SearchService:
    """Search, postings, similar postings and facets for one process, through the cache."""

    def __init__(
        self,
        settings: Settings,
        repository: PostingRepository,
        cache: TieredCache,
        embedder: Embedder,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.cache = cache
        self.embedder = embedder
        # Part of the key of everything computed from a query vector.
        self._model_key = f"{embedder.name}/{embedder.dim}"
        self._posting_codec: JsonCodec[PostingView] = JsonCodec(
            PostingView.to_dict, PostingView.from_dict
        )
        self._page_codec = _page_codec()
        self._facets_codec: JsonCodec[Facets] = JsonCodec(Facets.to_dict, Facets.from_dict)
        self._hits_codec: JsonCodec[list[SearchHit]] = JsonCodec(_hits_to_dict, _hits_from_dict)
        self._count_codec: JsonCodec[int] = JsonCodec(_count_to_dict, _count_from_dict)
        self._vector_codec = NumpyCodec()
        self.highlighter = Highlighter(self)

    # --- checks ---------------------------------------------------------------------
    def check_query(self, text: str, *, field: str = "query") -> str:
        """The normalised query, or BadInput naming the limit."""
        limit = self.settings.max_query_chars
        if len(text) > limit:
            raise BadInput(
                field,
                f"{field} is {len(text)} characters long; the limit is {limit} "
                "(JOBSTREAM_MAX_QUERY_CHARS)",
            )
        try:  # the domain's text rule: no lone surrogates (not encodable), no controls
            domain_text(text, field, limit)
        except InvalidPosting as exc:
            raise BadInput(field, exc.message) from None
        normalised = normalise_query(text)
        if not normalised:
            raise BadInput(field, f"{field} must contain some text")
        return normalised

    def check_first(self, first: int, *, field: str = "first") -> int:
        limit = self.settings.max_page_size
        if not 1 <= first <= limit:
            raise BadInput(
                field,
                f"{field} must be between 1 and {limit} (JOBSTREAM_MAX_PAGE_SIZE), got {first}",
            )
        return first

    # --- building blocks ------------------------------------------------------------
    async def embed(self, normalised: str) -> npt.NDArray[np.float32]:
        """The query vector (embedded as a query, which E5 prefixes differently from
        postings), cached by normalised text; the model runs in a thread."""

        async def compute() -> npt.NDArray[np.float32]:
            vectors = await asyncio.to_thread(self.embedder.embed, [normalised], "query")
            return np.asarray(vectors[0], dtype=np.float32)

        key = f"{self._model_key}|{normalised}"
        return await self.cache.get_or_load("embedding", key, compute, self._vector_codec)

    async def _cached(
        self,
        kind: str,
        key: str,
        loader: Callable[[], Awaitable[T]],
        codec: Any,
    ) -> T:
        result: T = await self.cache.get_or_load(kind, key, loader, codec, generational=True)
        return result

    async def postings(self, ids: Sequence[str]) -> dict[str, PostingView]:
        """Postings by id through the cache (L1, one MGET, one ``get_many`` for the rest);
        absent (deleted) ids are left out and not cached."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return {}
        return await self.cache.get_many_or_load(
            POSTING, unique, self.repository.get_many, self._posting_codec
        )

    # --- the operations -------------------------------------------------------------
    async def search(
        self,
        query_text: str,
        filter: PostingFilter,
        first: int,
        after: str | None,
        ranking: Ranking = HYBRID,
    ) -> tuple[SearchPage, dict[str, PostingView]]:
        """One page of hits for the query under the filter, and their postings by id.

        Raises BadInput (limits), InvalidFilter, InvalidCursor (from the repository).
        """
        normalised = self.check_query(query_text)
        self.check_first(first)
        filter.validate()
        base, skip = split_cursor(after)
        key = (
            f"{self._model_key}\x1f{ranking.key()}\x1f{normalised}\x1f{filter.cache_key()}"
            f"\x1f{first}\x1f{after or ''}"
        )

        async def load() -> SearchPage:
            vector = await self.embed(normalised) if ranking.semantic else None
            size = min(first + skip, MAX_FIRST)
            page = await self.repository.search(
                vector,
                filter,
                first=size,
                after=base,
                text=normalised,
                ranking=ranking,
                model=self.embedder.name,
            )
            if not skip:
                return page
            return SearchPage(
                hits=page.hits[skip:],
                end_cursor=page.end_cursor,
                has_next_page=page.has_next_page,
            )

        page: SearchPage = await self._cached("search", key, load, self._page_codec)
        found = await self.postings([hit.posting_id for hit in page.hits])
        return page, found

    @staticmethod
    def edge_cursors(after: str | None, page: SearchPage) -> list[str]:
        """A resumable cursor per hit of ``page`` (fetched with ``after``); the last one is
        the repository's own end cursor when it has one."""
        base, skip = split_cursor(after)
        cursors = [edge_cursor(base, skip + i + 1) for i in range(len(page.hits))]
        if cursors and page.end_cursor is not None:
            cursors[-1] = page.end_cursor
        return cursors

    async def count(
        self,
        filter: PostingFilter,
        query_text: str | None = None,
        mode: SearchMode = SearchMode.HYBRID,
    ) -> int:
        """How many live postings match the filter and, when there is one, the query (the
        connection's totalCount): its words, or its meaning above the floor, per ``mode``
        (:meth:`PostingRepository.count_matches`). Without a query, every filtered one."""
        filter.validate()
        if query_text is None or not query_text.strip():
            return await self._cached(
                "count",
                filter.cache_key(),
                lambda: self.repository.count(filter),
                self._count_codec,
            )
        normalised = self.check_query(query_text)

        async def load() -> int:
            vector = await self.embed(normalised) if mode is not SearchMode.KEYWORD else None
            return await self.repository.count_matches(
                vector, filter, text=normalised, mode=mode, model=self.embedder.name
            )

        key = f"{self._model_key}\x1f{mode.value}\x1f{normalised}\x1f{filter.cache_key()}"
        return await self._cached("count", key, load, self._count_codec)

    async def posting(self, posting_id: str) -> PostingView:
        """One posting; NotFound when it does not exist or is deleted, BadInput when
        ``posting_id`` cannot be an id (a NUL would fail in PostgreSQL, not here)."""
        if not ID_PATTERN.fullmatch(posting_id):
            raise BadInput(
                "id",
                f"id {shown(posting_id)} is not a posting id: 1-{ID_MAX_LEN} letters,"
                " digits and . _ : -",
            )
        found = await self.postings([posting_id])
        view = found.get(posting_id)
        if view is None:
            raise NotFound(f"posting {posting_id!r} does not exist")
        return view

    async def similar(self, posting_id: str, first: int) -> list[tuple[SearchHit, PostingView]]:
        """The postings nearest to this one (itself excluded), best first."""
        return (await self.similar_many([posting_id], first))[posting_id]

    async def similar_many(
        self, posting_ids: Sequence[str], first: int
    ) -> dict[str, list[tuple[SearchHit, PostingView]]]:
        """:meth:`similar` of many postings at once: their cached lists (L1, one MGET),
        one statement for the rest, then one postings lookup for every hit -- a page's
        nested ``similar`` fields cost a few round trips, not a task and a query each."""
        self.check_first(first)
        hits: dict[str, list[SearchHit]] = await self.cache.get_many_or_load(
            "similar",
            [f"{pid}\x1f{first}" for pid in dict.fromkeys(posting_ids)],
            functools.partial(self._load_similar, first),
            self._hits_codec,
            generational=True,
        )
        found = await self.postings([h.posting_id for some in hits.values() for h in some])
        return {
            pid: [
                (hit, found[hit.posting_id])
                for hit in hits.get(f"{pid}\x1f{first}", [])
                if hit.posting_id in found
            ]
            for pid in posting_ids
        }

    async def _load_similar(self, first: int, keys: list[str]) -> dict[str, list[SearchHit]]:
        """Cache keys (id, unit separator, first) -> their hits, in one repository call."""
        ids = {key: key.partition("\x1f")[0] for key in keys}
        found = await self.repository.similar_many(list(ids.values()), first=first)
        return {key: found[pid] for key, pid in ids.items()}

    async def suggestions(self, query_text: str, filter: PostingFilter) -> tuple[Suggestion, ...]:
        """Did you mean: the corrections of the query's words the lexical match used, and
        skills for the filter's skills no posting carries (not cached: a few index probes,
        and the word corrections are remembered by the repository)."""
        return await self.repository.skill_suggestions(filter, normalise_query(query_text))

    async def facets(self, query_text: str | None, filter: PostingFilter) -> Facets:
        """Counts per facet value over the live postings matching the filter and, when
        there is one, the query (as :meth:`count` counts them for HYBRID)."""
        filter.validate()
        if query_text is None or not query_text.strip():
            return await self._cached(
                "facets",
                filter.cache_key(),
                lambda: self.repository.facets(filter),
                self._facets_codec,
            )
        normalised = self.check_query(query_text)

        async def load() -> Facets:
            return await self.repository.facets_of_matches(
                await self.embed(normalised),
                filter,
                text=normalised,
                model=self.embedder.name,
            )

        key = f"{self._model_key}\x1f{normalised}\x1f{filter.cache_key()}"
        return await self._cached("facets", key, load, self._facets_codec)

    def page_highlights(
        self, query_text: str, ranking: Ranking, views: Sequence[PostingView]
    ) -> PageHighlights:
        """The highlights of a page of ``search``, computed when first asked for (a page
        whose highlights nobody selects costs nothing; :mod:`api.highlighting`)."""
        normalised = normalise_query(query_text)
        return PageHighlights(lambda: self.highlighter.page(normalised, ranking, views))
