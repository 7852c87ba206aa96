"""The shipped demo vectors: what the seed answers is the model's vector, to cosine 0.9999."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway import embedding_seed
from gateway.embedding_cache import EmbeddingCache
from gateway.generator import EMBED_TEXTS, generate
from schemas.embedding import make_embedder


def test_the_seed_ships_the_demo_texts_of_the_default_model() -> None:
    model = make_embedder("e5", 384)
    seed = embedding_seed.load(model.name, 384)
    assert seed is not None, "gateway/seeds/ lacks the default model's demo vectors"
    texts = [EMBED_TEXTS["brief"](d) for d in generate(10_000, seed=0)]
    assert len(seed) == len(set(texts))  # a few generated postings share title and skills
    assert all(embedding_seed.seed_key(t) in seed for t in texts)


def test_seeded_vectors_agree_with_the_model(tmp_path: Path) -> None:
    model = make_embedder("e5", 384)
    seed = embedding_seed.load(model.name, 384)
    assert seed is not None
    texts = [EMBED_TEXTS["brief"](d) for d in generate(5, seed=0)]
    calls: list[list[str]] = []

    def compute(batch: list[str]) -> object:
        calls.append(batch)
        return model.embed(batch)

    store = EmbeddingCache(tmp_path / "c.sqlite", 384, seed=seed)
    got = store.embed([*texts, "a text no seed holds"], compute=compute)
    assert calls == [["a text no seed holds"]]  # only the unseeded text reaches the model
    assert store.seeded == 5
    exact = np.asarray(model.embed(texts), dtype=np.float32)
    cosines = np.sum(got[:5] * exact, axis=1) / np.linalg.norm(exact, axis=1)
    assert cosines.min() >= 0.9999, cosines


@pytest.mark.parametrize("dim", [512])
def test_a_seed_of_another_dimension_is_ignored(dim: int) -> None:
    assert embedding_seed.load(make_embedder("e5", 384).name, dim) is None
