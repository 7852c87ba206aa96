"""Highlights of a search page, computed only when asked and cached (issue #12).

Two sources (:mod:`api.search.highlight`):

- **Terms**: one ``ts_headline`` statement over the page's titles and descriptions (a few
  ms for 20 postings), cached as kind ``highlights`` under the data generation, keyed by
  the normalised query and the page's (id, version) pairs -- the marks depend on nothing
  else, so every mode and filter showing the same postings shares them.
- **Nearest sentence**, for a posting no query term marks (a semantic-only match, e.g. a
  Korean query) when the ranking uses meaning: the first sentences of its description are
  embedded as passages with the API's embedder, cached as kind ``sentences`` per (model,
  id, version) -- they never go stale -- and compared with the query vector (~4 us).
  Embedding is the expensive part: multilingual-e5-small took 56-64 ms a sentence on the
  2 busy cores (load 5-9), and a generated posting has 6.2 sentences, so a cold page of
  20 would take ~7 s. A request therefore embeds at most
  ``JOBSTREAM_HIGHLIGHT_SENTENCE_BUDGET`` (8, ~0.5 s there) sentences, postings in rank
  order; a posting past the budget shows no sentence this time and gets one when the
  page is asked again. The sentence part is not cached per page for that reason;
  picking among cached vectors is a dot product.

GraphQL asks once per page (:class:`PageHighlights`, shared by the page's edges), only
when some edge selects ``highlights``; the cache counters of both kinds show the work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from api.cache import JsonCodec, NumpyCodec
from api.search import PostingView
from api.search.highlight import Highlight, nearest_sentence, sentences
from api.search.ranking import Ranking

if TYPE_CHECKING:
    from api.service import SearchService

HIGHLIGHTS = "highlights"
SENTENCES = "sentences"

PageMarks = dict[str, tuple[Highlight, ...]]


def _marks_to_dict(marks: PageMarks) -> dict[str, Any]:
    return {pid: [h.to_dict() for h in found] for pid, found in marks.items()}


def _marks_from_dict(data: dict[str, Any]) -> PageMarks:
    return {str(pid): tuple(Highlight.from_dict(h) for h in found) for pid, found in data.items()}


class Highlighter:
    """Computes and caches the highlights of pages for one :class:`SearchService`."""

    def __init__(self, service: SearchService) -> None:
        self._service = service
        self._marks_codec: JsonCodec[PageMarks] = JsonCodec(_marks_to_dict, _marks_from_dict)
        self._vectors_codec = NumpyCodec()
        self._model_key = f"{service.embedder.name}/{service.embedder.dim}"

    async def page(
        self, normalised: str, ranking: Ranking, views: Sequence[PostingView]
    ) -> PageMarks:
        """Highlights by posting id for the page's postings (``normalised`` query)."""
        if not views:
            return {}
        service = self._service
        key = normalised + "\x1f" + ",".join(f"{v.id}@{v.version}" for v in views)

        async def load_terms() -> PageMarks:
            pairs = [(v.title, v.description) for v in views]
            found = await service.repository.headlines(normalised, pairs)
            return {v.id: marks for v, marks in zip(views, found, strict=True)}

        terms: PageMarks = await service.cache.get_or_load(
            HIGHLIGHTS, key, load_terms, self._marks_codec, generational=True
        )
        marks = {v.id: terms.get(v.id, ()) for v in views}
        unmarked = [v for v in views if not marks[v.id]]
        budget = service.settings.highlight_sentence_budget
        if ranking.semantic and unmarked and budget > 0:
            query = await service.embed(normalised)
            nearest = await self.nearest_sentences(query, unmarked, budget)
            marks.update({pid: (h,) for pid, h in nearest.items()})
        return marks

    async def nearest_sentences(
        self, query: npt.NDArray[np.float32], views: Sequence[PostingView], budget: int
    ) -> dict[str, Highlight]:
        """The nearest description sentence of each posting whose sentence vectors are
        cached or fit in ``budget`` sentences to embed now."""
        candidates = {v.id: sentences(v.description) for v in views}
        by_key = {f"{self._model_key}|{v.id}|{v.version}": v for v in views if candidates[v.id]}

        async def embed(keys: list[str]) -> dict[str, npt.NDArray[np.float32]]:
            chosen: list[str] = []
            texts: list[str] = []
            for key in keys:  # rank order: the page's first postings first
                own = candidates[by_key[key].id]
                if len(texts) + len(own) > budget:
                    break
                chosen.append(key)
                texts.extend(own)
            if not texts:
                return {}
            vectors = await asyncio.to_thread(self._service.embedder.embed, texts, "passage")
            out: dict[str, npt.NDArray[np.float32]] = {}
            at = 0
            for key in chosen:
                n = len(candidates[by_key[key].id])
                out[key] = np.asarray(vectors[at : at + n], dtype=np.float32)
                at += n
            return out

        vectors = await self._service.cache.get_many_or_load(
            SENTENCES, list(by_key), embed, self._vectors_codec
        )
        found: dict[str, Highlight] = {}
        for key, rows in vectors.items():
            view = by_key[key]
            best = nearest_sentence(query, candidates[view.id], rows)
            if best is not None:
                found[view.id] = best
        return found


class PageHighlights:
    """One page's highlights, computed at most once, when the first edge asks."""

    def __init__(self, compute: Callable[[], Awaitable[PageMarks]]) -> None:
        self._compute = compute
        self._task: asyncio.Future[PageMarks] | None = None

    async def of(self, posting_id: str) -> tuple[Highlight, ...]:
        if self._task is None:
            self._task = asyncio.ensure_future(self._compute())
        marks: Mapping[str, tuple[Highlight, ...]] = await asyncio.shield(self._task)
        return marks.get(posting_id, ())
