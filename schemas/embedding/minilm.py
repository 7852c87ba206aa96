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


def gelu_(x: F32) -> F32:
    """Exact GELU x * Phi(x) in place, written as relu(x) - |x| * Phi(-|x|) so one erfc
    evaluation on |x| covers both signs."""
    z = np.abs(x)
    t = z * (_P * _INV_SQRT2)
    t += 1.0
    np.reciprocal(t, out=t)
    q = t * _A[4]
    for a in (_A[3], _A[2], _A[1], _A[0]):
        q += a
        q *= t
    # q = 0.5 * poly(t); now times exp(-x^2 / 2) gives Phi(-|x|)
    e = np.square(x)
    e *= np.float32(-0.5)
    np.exp(e, out=e)
    q *= e
    q *= z
    np.maximum(x, 0.0, out=x)
    x -= q
    return x


def layer_norm_(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    """LayerNorm over the last axis, in place."""
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
        ffn_chunk_rows: int = 512,
    ) -> None:
        self._path = path if path is not None else model_dir()  # fail fast if not installed
        self._max_batch_tokens = max_batch_tokens
        self._max_batch_size = max_batch_size
        self._ffn_chunk_rows = ffn_chunk_rows
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
        """BERT encoder + masked mean pooling for one padded batch -> (B, H), unnormalised."""
        b, n = tok.shape
        h = w.word.shape[1]
        heads = w.num_heads
        hd = h // heads
        eps = w.layer_norm_eps
        mask = np.arange(n)[None, :] < lengths[:, None]  # (B, N)
        key_bias = np.where(mask, np.float32(0.0), np.float32(-np.inf))[:, None, None, :]

        x = w.word[tok]
        x += w.pos_type[:n]
        x = layer_norm_(x.reshape(b * n, h), w.ln_g, w.ln_b, eps)
        for lw in w.layers:
            qkv = x @ lw.w_qkv
            qkv += lw.b_qkv
            qkv5 = qkv.reshape(b, n, 3, heads, hd)
            q = qkv5[:, :, 0].transpose(0, 2, 1, 3)  # (B, heads, N, hd)
            k = qkv5[:, :, 1].transpose(0, 2, 3, 1)  # (B, heads, hd, N)
            v = qkv5[:, :, 2].transpose(0, 2, 1, 3)
            s = q @ k  # (B, heads, N, N), already scaled via W_q
            s += key_bias
            s -= s.max(axis=-1, keepdims=True)
            np.exp(s, out=s)
            s *= np.reciprocal(s.sum(axis=-1, keepdims=True))
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b * n, h)
            attn = ctx @ lw.w_o
            attn += lw.b_o
            attn += x
            x = layer_norm_(attn, lw.ln1_g, lw.ln1_b, eps)
            x = self._feed_forward(x, lw.w_in, lw.b_in, lw.w_out, lw.b_out)
            x = layer_norm_(x, lw.ln2_g, lw.ln2_b, eps)
        pooled = np.einsum("bn,bnh->bh", mask.astype(np.float32), x.reshape(b, n, h))
        pooled /= lengths[:, None].astype(np.float32)
        return pooled

    def _feed_forward(self, x: F32, w_in: F32, b_in: F32, w_out: F32, b_out: F32) -> F32:
        """x + W_out gelu(W_in x), in row chunks so the (rows, 1536) activation stays cached."""
        out = np.empty_like(x)
        step = self._ffn_chunk_rows
        for r in range(0, x.shape[0], step):
            xs = x[r : r + step]
            mid = xs @ w_in
            mid += b_in
            gelu_(mid)
            o = out[r : r + step]
            np.matmul(mid, w_out, out=o)
            o += b_out
            o += xs
        return out
