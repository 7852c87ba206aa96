"""Per-request DataLoaders: the fields a page repeats per item, resolved in one batch.

A search page of 30 postings, each asking ``similar(first: 8)``, resolves 30 fields at
one level; resolved one by one they were 30 tasks, 30 cache lookups and up to 60 pooled
statements, queued ahead of every other request. :func:`similar_loader` gathers the
``similar`` fields of one level of one request into one
:meth:`~api.service.SearchService.similar_many` per ``first``. Loaders are created per
request (their memo must not outlive it: a posting may change between requests).
"""

from __future__ import annotations

import asyncio
from itertools import groupby

from strawberry.dataloader import DataLoader

from api.search import PostingView, SearchHit
from api.service import SearchService

SimilarKey = tuple[str, int]
"""(posting id, first)."""
SimilarList = list[tuple[SearchHit, PostingView]]


def similar_loader(service: SearchService) -> DataLoader[SimilarKey, SimilarList]:
    """A loader of ``similar`` lists; ``first`` must be checked before ``load``."""

    async def load(keys: list[SimilarKey]) -> list[SimilarList]:
        by_first = {
            first: [pid for pid, _ in group]
            for first, group in groupby(sorted(keys, key=lambda k: k[1]), key=lambda k: k[1])
        }
        lists = await asyncio.gather(
            *(service.similar_many(ids, first) for first, ids in by_first.items())
        )
        found = dict(zip(by_first, lists, strict=True))
        return [found[first][pid] for pid, first in keys]

    return DataLoader(load_fn=load)
