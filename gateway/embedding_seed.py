"""Shipped vectors for the demo's generated postings, so a fresh machine skips the model.

``make demo`` embeds the same 10,000 generated texts on every machine (the generator is
seeded), and multilingual-e5 on 2 cores needs ~5 minutes of CPU for them; the issue's
budget for the whole demo is 3. The on-disk cache (:mod:`gateway.embedding_cache`) only
helps a machine that embedded them once. This file ships their vectors with the code:
one ``.npz`` per model in ``gateway/seeds/``, keyed by the first 16 bytes of each text's
SHA-256, int8 with a per-vector scale (~4 MB for 10,000 384-d vectors instead of 15;
cosine to the float32 vector >= 0.9999, far below what ranking can tell apart). A text
the seed does not hold (another --generate count, seed or --embed-text, another model) is
embedded as usual. ``python -m gateway.embedding_seed`` rebuilds the file from the cache.
"""

from __future__ import annotations

import argparse
import hashlib
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from gateway.embedding_cache import cache_path
from schemas.embedding import EMBEDDER_KINDS, EmbedderKind

SEEDS = Path(__file__).resolve().parent / "seeds"
KEY_BYTES = 16


def seed_path(model: str) -> Path:
    return cache_path(SEEDS, model).with_suffix(".npz")


@cache
def load(model: str, dim: int) -> dict[bytes, npt.NDArray[np.float32]] | None:
    """The seed of ``model`` as {key: unit vector}, None when no seed ships for it."""
    path = seed_path(model)
    if not path.exists():
        return None
    with np.load(path) as z:
        keys, q, scale = z["keys"], z["q"], z["scale"]
    if q.shape[1] != dim:
        return None
    vectors = q.astype(np.float32) * scale[:, None]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {bytes(k): v for k, v in zip(keys, vectors, strict=True)}


def seed_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:KEY_BYTES]


def quantise(
    vectors: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    scale = np.abs(vectors).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.rint(vectors / scale[:, None]).astype(np.int8)
    return q, scale.astype(np.float32)


def build(
    n: int, seed: int, embed_text: str, kind: EmbedderKind, dim: int, cache_dir: Path
) -> Path:
    """Write the seed of the first ``n`` generated postings' texts (embedding the ones the
    cache lacks)."""
    from gateway.embedding_cache import EmbeddingCache
    from gateway.generator import EMBED_TEXTS, generate
    from schemas.embedding import make_embedder

    model = make_embedder(kind, dim)
    texts = [EMBED_TEXTS[embed_text](d) for d in generate(n, seed=seed)]
    store = EmbeddingCache(cache_path(cache_dir, model.name), dim)
    vectors = store.embed(texts, compute=model.embed)
    q, scale = quantise(vectors)
    keys = np.frombuffer(b"".join(seed_key(t) for t in texts), dtype=np.uint8)
    out = seed_path(model.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, keys=keys.reshape(len(texts), KEY_BYTES), q=q, scale=scale)
    return out


def main() -> None:
    from schemas.settings import load_settings

    defaults = load_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embed-text", default="brief")
    parser.add_argument("--embedder", default=defaults.embedder, choices=EMBEDDER_KINDS)
    args = parser.parse_args()
    path = build(
        args.generate,
        args.seed,
        args.embed_text,
        args.embedder,
        defaults.embedding_dim,
        defaults.embedding_cache_dir,
    )
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
