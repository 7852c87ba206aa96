"""all-MiniLM-L6-v2 as a pure numpy forward pass (no torch), matching sentence-transformers.

Pipeline: WordPiece (HF ``tokenizers``) truncated at 256 tokens incl. [CLS]/[SEP] ->
6-layer BERT (hidden 384, 12 heads, exact-erf GELU, LayerNorm eps 1e-12) -> mean
pooling over the real tokens -> L2 normalisation.

Speed comes from: sorting texts by token count and packing their tokens without
padding; float32 throughout; one fused QKV matmul with key/value biases folded away;
running everything after attention in row chunks whose intermediates stay in cache;
and letting numpy's BLAS use both cores. Batch composition changes results only by
float rounding.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from schemas.embedding.ops import F32, I64, PackedAttention, gelu_, layer_norm_
from schemas.embedding.protocol import TextKind, Vectors, check_texts, normalise_rows
from schemas.embedding.weights import (
    MiniLMWeights,
    load_tokenizer,
    load_weights,
    model_dir,
    require_runtime,
)

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class MiniLMEmbedder:
    """384-d sentence embeddings identical (cosine >= 0.9999) to sentence-transformers.

    Weights load lazily on first use (about 90 MB) so constructing one is cheap;
    ``embed`` is serialised by a lock because BLAS already uses every core.
    """

    name: str = MODEL_NAME
    dim: int = 384

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_batch_tokens: int = 4096,
        chunk_rows: int = 128,
        attn_budget_floats: int = 1 << 18,
    ) -> None:
        require_runtime()  # fail fast if anything is not installed
        self._path = path if path is not None else model_dir()
        self._max_batch_tokens = max_batch_tokens
        self._chunk_rows = chunk_rows
        self._attn_budget = attn_budget_floats
        self._lock = threading.Lock()
        self._weights: MiniLMWeights | None = None
        self._tokenizer: Tokenizer | None = None

    def load(self) -> None:
        """Load weights and tokenizer now (e.g. at service start) instead of on first embed."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> tuple[MiniLMWeights, Tokenizer]:
        if self._weights is None or self._tokenizer is None:
            weights = load_weights(self._path)
            self._tokenizer = load_tokenizer(self._path, weights.max_seq_length)
            self._weights = weights
        return self._weights, self._tokenizer

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids incl. [CLS]/[SEP], truncated as the model sees them."""
        items = check_texts(texts)
        with self._lock:
            _, tokenizer = self._load_locked()
            return [e.ids for e in tokenizer.encode_batch(items)]

    def embed(self, texts: Sequence[str], kind: TextKind = "passage") -> Vectors:
        """Embed texts; rows come back in input order. Symmetric: ``kind`` changes nothing."""
        items = check_texts(texts)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        with self._lock:
            weights, tokenizer = self._load_locked()
            ids = [e.ids for e in tokenizer.encode_batch(items)]
            lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            order = np.argsort(lengths, kind="stable")
            for batch in self._batches(order, lengths):
                tokens = np.fromiter(
                    itertools.chain.from_iterable(ids[i] for i in batch),
                    dtype=np.int64,
                    count=int(lengths[batch].sum()),
                )
                out[batch] = self._forward(weights, tokens, lengths[batch])
        return normalise_rows(out)

    def _batches(self, order: I64, lengths: I64) -> list[I64]:
        """Split length-sorted indices into runs of at most ``max_batch_tokens`` tokens."""
        return token_batches(order, lengths, self._max_batch_tokens)

    def _forward(self, w: MiniLMWeights, tokens: I64, lengths: I64) -> F32:
        """Word embeddings of packed tokens through the encoder -> (B, H) mean pools."""
        return encode_packed(w, w.word[tokens], lengths, self._chunk_rows, self._attn_budget)


def encode_packed(
    w: MiniLMWeights, x: F32, lengths: I64, chunk_rows: int = 128, attn_budget: int = 1 << 18
) -> F32:
    """BERT encoder + mean pooling for packed sequences -> (B, H), unnormalised.

    ``x`` holds the packed tokens' word embeddings (T, H) and is overwritten; positions
    restart at 0 with each sequence. Shared by every BERT-shaped model here (``w.word`` is
    not read, so a model may keep its word table in another form).

    Only attention needs whole sequences; everything after it (output projection,
    LayerNorms, feed-forward, next layer's QKV) is row-wise, so it runs in row chunks
    whose intermediates stay in cache. Buffers are allocated once per batch."""
    rows, hidden = x.shape
    inter, eps = w.layers[0].w_in.shape[1], w.layer_norm_eps
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    positions = np.arange(rows) - np.repeat(starts, lengths)
    x += w.pos_type[positions]
    layer_norm_(x, w.ln_g, w.ln_b, eps)
    qkv = np.empty((rows, 3 * hidden), dtype=np.float32)
    np.matmul(x, w.layers[0].w_qkv, out=qkv)
    qkv[:, :hidden] += w.layers[0].b_q
    ctx = np.empty_like(x)
    chunk = min(rows, chunk_rows)
    h_buf = np.empty((chunk, hidden), dtype=np.float32)
    ffn = np.empty((4, chunk, inter), dtype=np.float32)
    attention = PackedAttention(lengths, hidden, w.num_heads, attn_budget)
    for i, lw in enumerate(w.layers):
        attention(qkv, ctx)
        nxt = w.layers[i + 1] if i + 1 < len(w.layers) else None
        for r in range(0, rows, chunk):
            xs = x[r : r + chunk]
            h = h_buf[: len(xs)]
            mid, z, t, q = ffn[:, : len(xs)]
            np.matmul(ctx[r : r + chunk], lw.w_o, out=h)
            h += lw.b_o
            h += xs
            layer_norm_(h, lw.ln1_g, lw.ln1_b, eps)
            np.matmul(h, lw.w_in, out=mid)
            mid += lw.b_in
            gelu_(mid, z, t, q)
            np.matmul(mid, lw.w_out, out=xs)
            xs += lw.b_out
            xs += h
            layer_norm_(xs, lw.ln2_g, lw.ln2_b, eps)
            if nxt is not None:
                qs = qkv[r : r + chunk]
                np.matmul(xs, nxt.w_qkv, out=qs)
                qs[:, :hidden] += nxt.b_q
    pooled: F32 = np.add.reduceat(x, starts, axis=0)
    pooled /= lengths[:, None].astype(np.float32)
    return pooled


def token_batches(order: I64, lengths: I64, max_batch_tokens: int) -> list[I64]:
    """Split length-sorted indices into runs of at most ``max_batch_tokens`` tokens."""
    cumulative = np.cumsum(lengths[order])
    cuts: list[int] = []
    limit = max_batch_tokens
    while True:
        cut = int(np.searchsorted(cumulative, limit, side="right"))
        cut = max(cut, cuts[-1] + 1 if cuts else 1)  # never an empty batch
        if cut >= len(order):
            break
        cuts.append(cut)
        limit = int(cumulative[cut - 1]) + max_batch_tokens
    return np.split(order, cuts)
