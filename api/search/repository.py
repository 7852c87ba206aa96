"""The read side of the postings table: ranked vector search, lookups, counts, facets.

Search strategy (details and the reasons in :mod:`api.search.sql`):

1. No valid ANN index listed in ``vector_index`` (the table is small, the sink builds the
   index at ``JOBSTREAM_VECTOR_INDEX_MIN_ROWS``) -> exact scan. It is the right plan there.
2. Otherwise, in one read-only transaction: ``SET LOCAL ivfflat.probes`` (from
   ``vector_index``), ``ivfflat.iterative_scan = relaxed_order`` and ``ivfflat.max_probes``,
   so a selective filter makes the index scan visit more lists instead of returning a
   short page; fetch ``first + 1`` (+ slack) candidates and re-sort them by (distance, id).
3. If that still yields fewer than ``first + 1`` rows -- the iterative scan stopped at
   ``max_probes``, or the matches really end here -- run the exact query for the same
   page. A page is therefore never short unless the result set ends.

Pages are keyset-paginated on (distance, id): the next page starts strictly after the
last hit, so there are no duplicates across pages and, on the exact path, no gaps
(the concatenation of pages equals one big exact query).
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy.typing as npt

from api.search import lexical, skills, sql, words
from api.search.cursor import Keyset, decode_cursor, encode_cursor, filter_fingerprint
from api.search.errors import InvalidQuery
from api.search.highlight import HEADLINES, Highlight, encode, term_highlights
from api.search.models import Facets, PostingView, SearchHit, SearchPage
from api.search.ranking import Ranking, SearchMode, query_words
from api.search.vectors import to_pgvector_text
from schemas.search import synonyms
from schemas.search.filters import PostingFilter

MAX_FIRST = 1000
SEMANTIC = Ranking(SearchMode.SEMANTIC)  # the repository's default: vectors only


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """The ANN index searches may use, as ``vector_index`` describes it."""

    name: str
    method: str
    lists: int
    probes: int


@dataclass
class SearchStats:
    """Which path searches took (for metrics and tests): index, exact, index->exact."""

    index_searches: int = 0
    exact_searches: int = 0
    fallbacks: int = 0


class PostingRepository:
    """Queries over ``postings`` through an asyncpg pool (no codec registration needed).

    ``max_probes_fraction``: how much of an IVFFlat index an iterative scan may visit
    before giving up on the index and running the exact query (a very selective filter
    is cheaper exact, through the filter's B-tree/GIN indexes, than via most lists).
    ``index_ttl_s``: how long the ``vector_index`` lookup is reused; a stale answer is
    harmless (SET LOCAL of an absent index's settings is a no-op, and an index not yet
    known only means exact scans for a few more seconds).
    ``window``: postings each ranking contributes to a HYBRID fusion (so a HYBRID search
    pages through at most twice that many); ``count_window`` and ``match_floor``: a
    posting matches a query semantically when its cosine similarity is at least
    ``match_floor``, counted among the ``count_window`` nearest (:mod:`api.search.lexical`).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        dim: int = 384,
        max_probes_fraction: float = 0.25,
        index_ttl_s: float = 5.0,
        window: int = 200,
        count_window: int = 1000,
        match_floor: float = 0.5,
    ) -> None:
        self._pool = pool
        self._dim = dim
        self._window = window
        self._count_window = count_window
        self._match_floor = match_floor
        self._max_probes_fraction = max_probes_fraction
        self._index_ttl_s = index_ttl_s
        self._index: tuple[float, IndexInfo | None] | None = None
        self._words = words.WordResolver(ttl_s=index_ttl_s)
        self.stats = SearchStats()

    # --- search ------------------------------------------------------------------------

    async def search(
        self,
        vector: npt.ArrayLike | None,
        filter: PostingFilter,
        *,
        first: int,
        after: str | None,
        text: str = "",
        ranking: Ranking = SEMANTIC,
        model: str | None = None,
    ) -> SearchPage:
        """Live postings matching ``filter``, best first for ``ranking``: nearest to
        ``vector`` (SEMANTIC), containing the words of ``text`` (KEYWORD), or both fused
        (HYBRID; see :mod:`api.search.ranking`). ``model``: compare ``vector`` only with
        postings embedded by this model (None: any, for callers with one model).

        Raises InvalidFilter, InvalidCursor (``after``), InvalidQuery (vector, first).
        """
        _check_first(first)
        canonical = filter.normalized()
        fingerprint = filter_fingerprint(f"{canonical.cache_key()}|{ranking.key()}")
        keyset = None if after is None else decode_cursor(after, fingerprint)
        vector_text = _vector_text(vector, self._dim) if ranking.semantic else None
        if ranking.mode is SearchMode.SEMANTIC:
            assert vector_text is not None
            rows = await self._ranked(
                vector_text, canonical, keyset, first + 1, exclude=None, model=model
            )
            hits = tuple(_hit(r) for r in rows[:first])
            keys = [float(r["distance"]) for r in rows]
        else:
            rows = await self._fused(
                vector_text, text, canonical, keyset, first + 1, ranking, model
            )
            hits = tuple(SearchHit(r["id"], float(r["score"])) for r in rows[:first])
            keys = [-float(r["score"]) for r in rows]
        cursor = (
            None
            if not hits
            else encode_cursor(Keyset(keys[len(hits) - 1], hits[-1].posting_id), fingerprint)
        )
        return SearchPage(hits=hits, end_cursor=cursor, has_next_page=len(rows) > first)

    async def _fused(
        self,
        vector_text: str | None,
        text: str,
        f: PostingFilter,
        keyset: Keyset | None,
        limit: int,
        ranking: Ranking,
        model: str | None,
    ) -> list[asyncpg.Record]:
        """KEYWORD or HYBRID rows (id, score, matched_query), as :meth:`_ranked` picks the
        ANN index or the exact scan for the semantic window."""
        async with self._pool.acquire() as conn:
            groups = await self._groups(conn, text)
            if vector_text is None:
                query, args = lexical.keyword_search(f, groups, keyset, limit)
                return list(await conn.fetch(query, *args))
            index = await self._current_index(conn)
            hybrid = functools.partial(
                lexical.hybrid_search,
                f,
                vector_text,
                groups,
                keyset,
                limit,
                window=self._window,
                semantic_weight=ranking.semantic_weight,
                model=model,
            )
            if index is None:
                self.stats.exact_searches += 1
                return list(await conn.fetch(*_flat(hybrid(index=False))))
            async with conn.transaction(readonly=True):
                await conn.execute(self._settings(index, self._window))
                rows = list(await conn.fetch(*_flat(hybrid(index=True))))
                if len(rows) >= limit:
                    self.stats.index_searches += 1
                    return rows
                # A short page: the fusion ends here, or the iterative scan stopped early
                # under a selective filter; the exact window decides.
                self.stats.fallbacks += 1
                return list(await conn.fetch(*_flat(hybrid(index=False))))

    async def similar(self, posting_id: str, *, first: int) -> list[SearchHit]:
        """Nearest live postings to ``posting_id``'s embedding, itself excluded; [] if the
        posting is unknown or deleted."""
        return (await self.similar_many([posting_id], first=first))[posting_id]

    async def similar_many(
        self, posting_ids: Sequence[str], *, first: int
    ) -> dict[str, list[SearchHit]]:
        """:meth:`similar` of many postings in one statement on one connection (a page's
        nested ``similar`` fields would otherwise take a connection and a task each); every
        id is in the result, [] for unknown or deleted ones. Like :meth:`_ranked`: the ANN
        index when there is one, the exact scan for the sources it leaves short."""
        _check_first(first)
        wanted = list(dict.fromkeys(posting_ids))
        found: dict[str, list[SearchHit]] = {pid: [] for pid in wanted}
        if not wanted:
            return found
        async with self._pool.acquire() as conn:
            index = await self._current_index(conn)
            if index is None:
                self.stats.exact_searches += 1
                rows = await conn.fetch(sql.similar_many(index=False), wanted, first)
            else:
                candidates = max(first * 2, first + 10)
                async with conn.transaction(readonly=True):
                    await conn.execute(self._settings(index, candidates))
                    rows = list(
                        await conn.fetch(sql.similar_many(index=True), wanted, first, candidates)
                    )
                    counts = Counter(r["source"] for r in rows)
                    short = [pid for pid in wanted if counts[pid] < first]
                    self.stats.index_searches += 1
                    if short:
                        # A short list: the live postings end here, or the iterative scan
                        # stopped early; the exact scan decides for those sources.
                        self.stats.fallbacks += 1
                        again = set(short)
                        rows = [r for r in rows if r["source"] not in again]
                        rows += await conn.fetch(sql.similar_many(index=False), short, first)
        for r in rows:
            found[r["source"]].append(_hit(r))
        return found

    async def _ranked(
        self,
        vector_text: str,
        f: PostingFilter,
        keyset: Keyset | None,
        limit: int,
        *,
        exclude: str | None,
        model: str | None = None,
    ) -> list[asyncpg.Record]:
        async with self._pool.acquire() as conn:
            index = await self._current_index(conn)
            if index is None:
                self.stats.exact_searches += 1
                query, args = sql.exact_search(
                    f, vector_text, keyset, limit, exclude=exclude, model=model
                )
                return list(await conn.fetch(query, *args))
            candidates = max(limit * 2, limit + 10)
            async with conn.transaction(readonly=True):
                await conn.execute(self._settings(index, candidates))
                query, args = sql.index_search(
                    f, vector_text, keyset, limit, candidates, exclude=exclude, model=model
                )
                rows = list(await conn.fetch(query, *args))
                if len(rows) >= limit:
                    self.stats.index_searches += 1
                    return rows
                self.stats.fallbacks += 1
                query, args = sql.exact_search(
                    f, vector_text, keyset, limit, exclude=exclude, model=model
                )
                return list(await conn.fetch(query, *args))

    def _settings(self, index: IndexInfo, candidates: int) -> str:
        """SET LOCAL statements (one round trip) for an iterative, filtered ANN scan."""
        if index.method == "hnsw":
            ef = max(40, candidates)
            return (
                f"SET LOCAL hnsw.ef_search = {min(ef, 1000)};"
                " SET LOCAL hnsw.iterative_scan = relaxed_order"
            )
        lists = max(1, index.lists)
        probes = min(max(1, index.probes), lists)
        max_probes = max(probes, math.ceil(lists * self._max_probes_fraction))
        return (
            f"SET LOCAL ivfflat.probes = {probes};"
            " SET LOCAL ivfflat.iterative_scan = relaxed_order;"
            f" SET LOCAL ivfflat.max_probes = {max_probes}"
        )

    async def _current_index(self, conn: asyncpg.Connection) -> IndexInfo | None:
        now = time.monotonic()
        if self._index is not None and now - self._index[0] < self._index_ttl_s:
            return self._index[1]
        row = await conn.fetchrow(sql.CURRENT_INDEX)
        info = None
        if row is not None and row["method"] in ("ivfflat", "hnsw"):
            info = IndexInfo(row["name"], row["method"], int(row["lists"]), int(row["probes"]))
        self._index = (now, info)
        return info

    def forget_index(self) -> None:
        """Re-read ``vector_index`` on the next search (tests, admin tools)."""
        self._index = None

    async def headlines(
        self, text: str, pages: Sequence[tuple[str, str]]
    ) -> list[tuple[Highlight, ...]]:
        """The query's terms marked in each (title, description), in order: its words as
        the lexical match takes them (alias spellings, typo corrections), in one statement
        over the texts themselves (the version the page shows), no table read."""
        if not pages:
            return []
        titles = [encode(title) for title, _ in pages]
        descriptions = [encode(description) for _, description in pages]
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                HEADLINES,
                await self._groups(conn, text),  # aliases and corrections, as matched
                [t for t, _ in titles],
                [d for d, _ in descriptions],
            )
        return [
            term_highlights(r["title"], r["description"], t[1], d[1])
            for r, t, d in zip(rows, titles, descriptions, strict=True)
        ]

    # --- lookups -----------------------------------------------------------------------

    async def get_many(self, ids: Sequence[str]) -> dict[str, PostingView]:
        """Live postings by id; unknown and deleted ids are simply absent."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(sql.GET_MANY, wanted)
        return {r["id"]: _view(r) for r in rows}

    async def get(self, posting_id: str) -> PostingView | None:
        return (await self.get_many([posting_id])).get(posting_id)

    async def count(self, filter: PostingFilter) -> int:
        """Live postings matching ``filter``."""
        query, args = sql.count(filter.normalized())
        async with self._pool.acquire() as conn:
            return int(await conn.fetchval(query, *args))

    async def count_matches(
        self,
        vector: npt.ArrayLike | None,
        filter: PostingFilter,
        *,
        text: str,
        mode: SearchMode,
        model: str | None = None,
    ) -> int:
        """Live postings matching ``filter`` that match the query: its words (KEYWORD,
        HYBRID) or its meaning above the floor (SEMANTIC, HYBRID) -- not the table."""
        rows = await self._matched(lexical.matched_count, vector, filter, text, mode, model)
        return int(rows[0][0])

    async def facets_of_matches(
        self,
        vector: npt.ArrayLike | None,
        filter: PostingFilter,
        *,
        text: str,
        mode: SearchMode = SearchMode.HYBRID,
        model: str | None = None,
    ) -> Facets:
        """:meth:`facets` over the postings :meth:`count_matches` counts."""
        rows = await self._matched(lexical.matched_facets, vector, filter, text, mode, model)
        return _facets(rows)

    async def _matched(
        self,
        statement: Any,
        vector: npt.ArrayLike | None,
        filter: PostingFilter,
        text: str,
        mode: SearchMode,
        model: str | None,
    ) -> list[asyncpg.Record]:
        ranking = Ranking(mode)
        vector_text = _vector_text(vector, self._dim) if ranking.semantic else None
        async with self._pool.acquire() as conn:
            index = await self._current_index(conn) if ranking.semantic else None
            groups = await self._groups(conn, text) if ranking.lexical else []
            query, args = statement(
                filter.normalized(),
                vector_text,
                groups,
                lexical=ranking.lexical,
                semantic=ranking.semantic,
                model=model,
                count_window=self._count_window,
                floor=self._match_floor,
                index=index is not None,
            )
            if index is None:
                return list(await conn.fetch(query, *args))
            async with conn.transaction(readonly=True):
                await conn.execute(self._settings(index, self._count_window))
                return list(await conn.fetch(query, *args))

    async def latest(
        self, filter: PostingFilter, *, limit: int, before: tuple[datetime, str] | None
    ) -> list[tuple[str, datetime]]:
        """(id, posted_at) of the newest live postings matching ``filter``, strictly
        before the (posted_at, id) keyset ``before``."""
        query, args = sql.latest(filter.normalized(), before, limit)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        return [(r["id"], r["posted_at"]) for r in rows]

    async def facets(self, filter: PostingFilter) -> Facets:
        """Counts per facet value over *all* live postings matching ``filter``.

        No query vector: a vector search ranks every matching posting (there is no
        relevance cut-off), so the facet counts of "the results" are the counts of the
        filtered set.
        """
        query, args = sql.facets(filter.normalized())
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        return _facets(rows)

    async def skill_suggestions(
        self, filter: PostingFilter, text: str = ""
    ) -> tuple[skills.Suggestion, ...]:
        """Did-you-mean for the query's words that match nothing lexically (the
        correction the lexical match used instead) and for the filter's skills that no
        live posting carries."""
        canonical = filter.normalized()
        terms = (*canonical.skills_all, *canonical.skills_any)
        found = query_words(text)
        if not terms and not found:
            return ()
        aliases = synonyms.active()
        async with self._pool.acquire() as conn:
            corrected = (await self._words.resolve(conn, found, aliases)).suggestions
            if not terms:
                return corrected
            return (*corrected, *await skills.suggest(conn, terms, aliases))

    async def _groups(self, conn: asyncpg.Connection, text: str) -> list[str]:
        """The query's words for the lexical match: alias groups, typos corrected."""
        resolved = await self._words.resolve(conn, query_words(text), synonyms.active())
        return resolved.groups


def _facets(rows: Sequence[asyncpg.Record]) -> Facets:
    """Facets from (facet, value, n) rows of a grouping-sets statement (skills most
    first: a UNION's order is the plan's, not a promise)."""
    out = Facets.empty()
    rows = sorted(rows, key=lambda r: (-int(r["n"]), str(r["value"])))
    by_name: dict[str, dict[str, int]] = {
        "english_level": out.english_level,
        "remote_mode": out.remote_mode,
        "employment_type": out.employment_type,
        "experience": out.experience,
        "skills": out.skills,
    }
    for r in rows:
        if r["value"] is not None:
            by_name[r["facet"]][r["value"]] = int(r["n"])
    return out


def _flat(statement: tuple[str, list[Any]]) -> list[Any]:
    """``(sql, args)`` as the positional arguments of ``fetch``."""
    return [statement[0], *statement[1]]


def _vector_text(vector: npt.ArrayLike | None, dim: int) -> str:
    if vector is None:
        raise InvalidQuery("vector", "this ranking needs a query vector")
    return to_pgvector_text(vector, dim)


def _check_first(first: int) -> None:
    if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
        raise InvalidQuery("first", f"first must be between 1 and {MAX_FIRST} (got {first!r})")


def _hit(row: asyncpg.Record) -> SearchHit:
    return SearchHit(posting_id=row["id"], score=1.0 - float(row["distance"]))


def _view(r: asyncpg.Record) -> PostingView:
    """The record of a GET_MANY row (its columns are PostingView's fields) as a view;
    text a live posting may leave NULL reads as ""."""
    values: dict[str, Any] = dict(r)
    return PostingView(
        **{
            **values,
            "city": values["city"] or "",
            "country_code": values["country_code"] or "",
            "skills": tuple(values["skills"] or ()),
            "description": values["description"] or "",
            "embedding_model": values["embedding_model"] or "",
        }
    )
