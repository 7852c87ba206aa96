"""gateway.embedding_cache: misses go to the model once, hits come back bit-identical."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateway.embedding_cache import EmbeddingCache, cache_path
from schemas.embedding import make_embedder


def test_second_pass_is_served_from_disk_identically(tmp_path: Path) -> None:
    model = make_embedder("hash", 384)
    calls: list[list[str]] = []

    def compute(texts: list[str]) -> npt.NDArray[np.float32]:
        calls.append(texts)
        return np.asarray(model.embed(texts), dtype=np.float32)

    path = cache_path(tmp_path, "sentence-transformers/all-MiniLM-L6-v2")
    assert path.parent == tmp_path
    cache = EmbeddingCache(path, 384)
    first = cache.embed(["a", "b", "c"], compute)
    assert calls == [["a", "b", "c"]]
    cache.close()

    reopened = EmbeddingCache(path, 384)
    again = reopened.embed(["c", "new", "a"], compute)
    assert calls[-1] == ["new"]  # only the miss reaches the model
    assert np.array_equal(again[0], first[2])
    assert np.array_equal(again[2], first[0])
    assert (reopened.hits, reopened.misses) == (2, 1)


def test_a_row_of_the_wrong_size_is_a_miss(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "x.sqlite", 4)
    cache.put_many(["t"], np.ones((1, 3), dtype=np.float32))
    assert cache.get_many(["t"]) == [None]
    out = cache.embed(["t"], lambda texts: np.ones((len(texts), 4), dtype=np.float32))
    assert out.shape == (1, 4)
    assert cache.get_many(["t"])[0] is not None
