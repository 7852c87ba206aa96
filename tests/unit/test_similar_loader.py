"""The per-request ``similar`` loader: one level of ``similar`` fields is one batch per
``first``, each list cached under the key the single lookup uses, answers in key order."""

from __future__ import annotations

import asyncio

from api.cache import TieredCache
from api.graphql.loaders import similar_loader
from api.service import SearchService
from schemas.settings import Settings
from tests.unit.test_api_service import FakeEmbedder, FakeRepository


def service() -> tuple[SearchService, FakeRepository]:
    settings = Settings(max_page_size=5)
    repo = FakeRepository()
    cache = TieredCache(settings, None)
    found = SearchService(settings, repo, cache, FakeEmbedder())  # type: ignore[arg-type]  # fakes
    return found, repo


async def test_one_level_is_one_batch_per_first_in_key_order() -> None:
    svc, repo = service()
    loader = similar_loader(svc)
    keys = [("p0", 2), ("p1", 3), ("p2", 2), ("p0", 2)]
    lists = await asyncio.gather(*(loader.load(key) for key in keys))
    assert sorted(repo.similar_calls) == [(["p0", "p2"], 2), (["p1"], 3)]
    assert [[view.id for _, view in found] for found in lists] == [
        ["p1", "p2"],
        ["p0", "p2", "p3"],
        ["p0", "p1"],
        ["p1", "p2"],
    ]
    # The single lookup reads the lists the batch cached.
    assert [view.id for _, view in await svc.similar("p2", 2)] == ["p0", "p1"]
    assert len(repo.similar_calls) == 2


async def test_cached_lists_are_not_loaded_again() -> None:
    svc, repo = service()
    await svc.similar("p1", 2)
    await similar_loader(svc).load_many([("p1", 2), ("p3", 2)])
    assert repo.similar_calls == [(["p1"], 2), (["p3"], 2)]
