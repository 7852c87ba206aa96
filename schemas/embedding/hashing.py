"""Deterministic feature-hashing embedder: no model, microseconds per text.

For tests and large benchmarks where MiniLM would be too slow or absent. Each lower-cased
word contributes itself (weight 1) and its character trigrams of ``#word#`` (weight
0.25 each, so "engineer"/"engineering" still overlap) to signed buckets chosen by
blake2b, never Python's salted ``hash()``, so vectors are identical across processes
and machines. Texts sharing words therefore have positive cosine similarity, and
search over these vectors behaves like a crude bag-of-words search.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b

import numpy as np
import numpy.typing as npt

from schemas.embedding.protocol import TextKind, Vectors, check_texts, normalise_rows

_WORD = re.compile(r"\w+")
_WORD_WEIGHT = 1.0
_NGRAM_WEIGHT = 0.25
_EMPTY_FEATURE = "\x00empty"  # text without words still gets a fixed unit vector
_VERSION = "hashing-v1"


class HashingEmbedder:
    """Signed feature hashing of words + character trigrams into ``dim`` buckets."""

    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ValueError(f"dim must be >= 8, got {dim}")
        self._dim = dim
        self._name = f"{_VERSION}-{dim}"
        # bound method cache: per instance, so different dims never share entries
        self._word_features = lru_cache(maxsize=1 << 16)(self._compute_word_features)

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str], kind: TextKind = "passage") -> Vectors:
        """Embed texts; pure function of the text (queries and postings alike), thread-safe."""
        items = check_texts(texts)
        out = np.zeros((len(items), self._dim), dtype=np.float32)
        for row, text in enumerate(items):
            words = _WORD.findall(text.lower()) or [_EMPTY_FEATURE]
            parts = [self._word_features(w) for w in words]
            buckets = np.concatenate([p[0] for p in parts])
            weights = np.concatenate([p[1] for p in parts])
            out[row] = np.bincount(buckets, weights=weights, minlength=self._dim)
        return normalise_rows(out)

    def _compute_word_features(
        self, word: str
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Bucket indices and signed weights for one word and its trigrams."""
        padded = f"#{word}#"
        # type prefixes keep the word "abc" apart from the trigram "abc" of "xabcx"
        features = [f"w:{word}"] + [f"g:{padded[i : i + 3]}" for i in range(len(padded) - 2)]
        buckets = np.empty(len(features), dtype=np.intp)
        weights = np.empty(len(features), dtype=np.float64)
        for i, feature in enumerate(features):
            digest = blake2b(feature.encode(), digest_size=8, person=b"jobstream-hv1").digest()
            value = int.from_bytes(digest, "little")
            buckets[i] = (value >> 1) % self._dim
            sign = 1.0 if value & 1 else -1.0
            weights[i] = sign * (_WORD_WEIGHT if i == 0 else _NGRAM_WEIGHT)
        buckets.flags.writeable = False  # shared via the cache
        weights.flags.writeable = False
        return buckets, weights
