"""all-MiniLM-L6-v2 as a pure numpy forward pass (no torch), matching sentence-transformers.

Pipeline: WordPiece (HF ``tokenizers``) truncated at 256 tokens incl. [CLS]/[SEP] ->
6-layer BERT (hidden 384, 12 heads, exact-erf GELU, LayerNorm eps 1e-12) -> mean
pooling over the attention mask -> L2 normalisation.

Speed comes from: sorting texts by token count and padding each batch only to its own
longest text; float32 throughout; one fused QKV matmul; running the feed-forward block
in row chunks so the 1536-wide GELU activations stay in cache; and letting numpy's
BLAS use both cores. Results do not depend on batch composition beyond float rounding:
padded keys get exactly zero attention weight.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from schemas.embedding.protocol import Vectors, check_texts, normalise_rows
from schemas.embedding.weights import F32, MiniLMWeights, load_tokenizer, load_weights, model_dir

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

# Abramowitz & Stegun 7.1.26: erfc(z) ~ poly(t) exp(-z^2), t = 1/(1 + p z), |error| <= 1.5e-7,
# below float32 resolution; it is also what torch's vectorised CPU erf uses.
_P = np.float32(0.3275911)
_A = tuple(
    np.float32(0.5 * a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_INV_SQRT2 = np.float32(0.7071067811865476)


def gelu_(x: F32, z: F32, t: F32, q: F32) -> F32:
    """Exact GELU x * Phi(x) in place, as (x + |x|) / 2 - |x| * Phi(-|x|) so one erfc
    evaluation on |x| covers both signs. ``z``, ``t``, ``q`` are scratch buffers of x's
    shape: fresh temporaries per call cost more (page faults) than the arithmetic."""
    np.abs(x, out=z)
    np.multiply(z, _P * _INV_SQRT2, out=t)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    np.multiply(t, _A[4], out=q)
    for a in (_A[3], _A[2], _A[1], _A[0]):
        q += a
        q *= t
    # q = 0.5 * poly(t); times exp(-x^2 / 2) it is Phi(-|x|)
    np.square(x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    q *= t
    q *= z
    x += z
    x *= np.float32(0.5)
    x -= q
    return x


def layer_norm_(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    """LayerNorm over the last axis of a 2-D array, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(eps)
    np.sqrt(var, out=var)
    np.reciprocal(var, out=var)
    x *= var[:, None]
    x *= gamma
    x += beta
    return x


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
        max_batch_size: int = 128,
        ffn_chunk_rows: int = 128,
        attn_chunk_floats: int = 1 << 18,
    ) -> None:
        self._path = path if path is not None else model_dir()  # fail fast if not installed
        self._max_batch_tokens = max_batch_tokens
        self._max_batch_size = max_batch_size
        self._ffn_chunk_rows = ffn_chunk_rows
        self._attn_chunk_floats = attn_chunk_floats
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

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts; rows come back in input order."""
        items = check_texts(texts)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        with self._lock:
            weights, tokenizer = self._load_locked()
            ids = [e.ids for e in tokenizer.encode_batch(items)]
            lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
            order = np.argsort(lengths, kind="stable")
            for batch in self._batches(order, lengths):
                n_max = int(lengths[batch[-1]])
                tok = np.zeros((len(batch), n_max), dtype=np.int64)
                for row, i in enumerate(batch):
                    tok[row, : lengths[i]] = ids[i]
                out[batch] = self._forward(weights, tok, lengths[batch])
        return normalise_rows(out)

    def _batches(self, order: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Split length-sorted indices so each padded batch stays under the token budget."""
        batches: list[np.ndarray] = []
        start = 0
        for end in range(1, len(order) + 1):
            size = end - start
            too_big = size * int(lengths[order[end - 1]]) > self._max_batch_tokens
            if size > 1 and (too_big or size > self._max_batch_size):
                batches.append(order[start : end - 1])
                start = end - 1
        batches.append(order[start:])
        return batches

    def _forward(self, w: MiniLMWeights, tok: np.ndarray, lengths: np.ndarray) -> F32:
        """BERT encoder + masked mean pooling for one padded batch -> (B, H), unnormalised.

        Only attention needs whole sequences; everything after it (output projection,
        LayerNorms, feed-forward, next layer's QKV) is row-wise, so it runs in row chunks
        whose intermediates stay in cache. Buffers are allocated once per batch."""
        b, n = tok.shape
        rows = b * n
        hidden = w.word.shape[1]
        inter = w.layers[0].w_in.shape[1]
        eps = w.layer_norm_eps
        x = w.word[tok]
        x += w.pos_type[:n]
        x = layer_norm_(x.reshape(rows, hidden), w.ln_g, w.ln_b, eps)
        qkv = np.empty((rows, 3 * hidden), dtype=np.float32)
        np.matmul(x, w.layers[0].w_qkv, out=qkv)
        qkv[:, :hidden] += w.layers[0].b_q
        ctx = np.empty_like(x)
        chunk = min(rows, self._ffn_chunk_rows)
        h_buf = np.empty((chunk, hidden), dtype=np.float32)
        ffn = np.empty((4, chunk, inter), dtype=np.float32)
        attention = _Attention(b, n, hidden, w.num_heads, self._attn_chunk_floats)
        for i, lw in enumerate(w.layers):
            attention(qkv, ctx, lengths)
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
        mask = (np.arange(n)[None, :] < lengths[:, None]).astype(np.float32)
        pooled: F32 = np.einsum("bn,bnh->bh", mask, x.reshape(b, n, hidden))
        pooled /= lengths[:, None].astype(np.float32)
        return pooled


class _Attention:
    """Multi-head self-attention over fused QKV rows, with buffers for one batch shape.

    Scores are computed transposed, keys x queries, so the softmax max-reduction runs
    over a non-last axis (vectorised in numpy, unlike short last-axis reductions), and
    the softmax denominators come out of the value matmul via a column of ones appended
    to V. A few sequences run at a time so their scores stay in cache; padded keys get
    -inf, i.e. exactly zero weight, so padding cannot change results."""

    def __init__(self, b: int, n: int, hidden: int, heads: int, chunk_floats: int) -> None:
        self.b, self.n, self.heads, self.hd = b, n, heads, hidden // heads
        self.step = min(b, max(1, chunk_floats // (heads * n * n)))
        self.scores = np.empty((self.step, heads, n, n), dtype=np.float32)
        self.v1 = np.ones((self.step, heads, n, self.hd + 1), dtype=np.float32)
        self.out = np.empty_like(self.v1)

    def __call__(self, qkv: F32, ctx: F32, lengths: np.ndarray) -> None:
        b, n, heads, hd = self.b, self.n, self.heads, self.hd
        qkv5 = qkv.reshape(b, n, 3, heads, hd)
        ctx4 = ctx.reshape(b, n, heads, hd)
        for i in range(0, b, self.step):
            sl = slice(i, i + self.step)
            m = len(lengths[sl])
            st, v1, out = self.scores[:m], self.v1[:m], self.out[:m]
            k = qkv5[sl, :, 1].transpose(0, 2, 1, 3)  # (S, heads, N, hd)
            q = qkv5[sl, :, 0].transpose(0, 2, 3, 1)  # (S, heads, hd, N), pre-scaled
            np.matmul(k, q, out=st)  # st[s, h, key, query]
            for j, length in enumerate(lengths[sl]):
                if length < n:
                    st[j, :, length:, :] = -np.inf
            st -= st.max(axis=-2, keepdims=True)
            np.exp(st, out=st)
            v1[..., :hd] = qkv5[sl, :, 2].transpose(0, 2, 1, 3)
            np.matmul(st.swapaxes(-1, -2), v1, out=out)  # [..., hd] = softmax denominators
            np.divide(out[..., :hd], out[..., hd:], out=ctx4[sl].transpose(0, 2, 1, 3))
