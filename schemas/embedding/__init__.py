"""Text embedders shared by every service.

``make_embedder("minilm")`` gives all-MiniLM-L6-v2 (numpy, no torch) for real search;
``make_embedder("hash")`` a deterministic hashing embedder for tests and big benchmarks.
Both satisfy :class:`Embedder`; a posting records ``embedder.name`` as its
``embedding_model`` so vectors from different embedders are never mixed.
"""

from __future__ import annotations

import threading
from typing import Literal

from schemas.embedding.hashing import HashingEmbedder
from schemas.embedding.minilm import MODEL_NAME as MINILM_NAME
from schemas.embedding.minilm import MiniLMEmbedder
from schemas.embedding.protocol import Embedder, Vectors
from schemas.embedding.weights import PIP_COMMAND, ModelUnavailableError

__all__ = [
    "MINILM_NAME",
    "PIP_COMMAND",
    "Embedder",
    "EmbedderKind",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "ModelUnavailableError",
    "Vectors",
    "make_embedder",
]

EmbedderKind = Literal["minilm", "hash"]

_minilm: MiniLMEmbedder | None = None
_minilm_lock = threading.Lock()


def make_embedder(kind: EmbedderKind, dim: int = 384) -> Embedder:
    """Return an embedder. MiniLM is one instance per process (90 MB of weights, loaded on
    first embed); raises :class:`ModelUnavailableError` naming the pip command if the
    model package is missing."""
    global _minilm
    if kind == "hash":
        return HashingEmbedder(dim)
    if kind == "minilm":
        if dim != MiniLMEmbedder.dim:
            raise ValueError(f"all-MiniLM-L6-v2 is {MiniLMEmbedder.dim}-d, got dim={dim}")
        with _minilm_lock:
            if _minilm is None:
                _minilm = MiniLMEmbedder()
            return _minilm
    raise ValueError(f"unknown embedder kind {kind!r}; expected 'minilm' or 'hash'")
