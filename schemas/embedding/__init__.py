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

_instances: dict[tuple[str, int], Embedder] = {}
_lock = threading.Lock()


def make_embedder(kind: EmbedderKind, dim: int = 384) -> Embedder:
    """Return the process-wide embedder of that kind and dim (created once, so MiniLM's
    90 MB of weights load once, lazily on first embed, and hashing keeps its word cache).

    Raises :class:`ModelUnavailableError` naming the pip command if the model package is
    missing, ValueError for an unknown kind or a dim MiniLM does not have."""
    if kind not in ("minilm", "hash"):
        raise ValueError(f"unknown embedder kind {kind!r}; expected 'minilm' or 'hash'")
    if kind == "minilm" and dim != MiniLMEmbedder.dim:
        raise ValueError(f"all-MiniLM-L6-v2 is {MiniLMEmbedder.dim}-d, got dim={dim}")
    with _lock:
        embedder = _instances.get((kind, dim))
        if embedder is None:
            embedder = MiniLMEmbedder() if kind == "minilm" else HashingEmbedder(dim)
            _instances[kind, dim] = embedder
        return embedder
