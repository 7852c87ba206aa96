"""The contract every embedder honours, so services can swap MiniLM for hashing in tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

TextKind = Literal["query", "passage"]
"""What a text is: a searcher's query or a posting. Asymmetric models (E5) embed the two
differently; symmetric ones (MiniLM, hashing) ignore it."""


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 rows of shape (n, dim)."""

    @property
    def name(self) -> str:
        """The ``embedding_model`` string recorded on postings; vectors of different names
        must never be compared."""
        ...

    @property
    def dim(self) -> int:
        """Vector dimension (the pgvector column width)."""
        ...

    def embed(self, texts: Sequence[str], kind: TextKind = "passage") -> Vectors:
        """Embed ``texts`` as queries or postings; safe to call from several threads."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate input up front so a bad element fails with its index, not deep in numpy."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("embed() takes a sequence of str, not a single string; wrap it in a list")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return items


def normalise_rows(vectors: Vectors) -> Vectors:
    """L2-normalise rows in place (zero rows stay zero, as torch's F.normalize does)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.maximum(norms, np.float32(1e-12), out=norms)
    vectors /= norms
    return vectors
