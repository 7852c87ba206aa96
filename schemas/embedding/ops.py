"""numpy building blocks of the MiniLM forward pass: exact GELU, LayerNorm, attention.

All work in place on float32 with caller-provided buffers: on this workload fresh
temporaries (page faults on large allocations) cost more than the arithmetic itself.
Token rows are *packed*: sequences lie back to back without padding, so nothing ever
computes padding: row-wise parts (projections, feed-forward, LayerNorm) see only real
tokens, and attention runs on groups of sequences of equal length.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# Abramowitz & Stegun 7.1.26: erfc(z) ~ poly(t) exp(-z^2), t = 1/(1 + p z), |error| <= 1.5e-7,
# below float32 resolution; it is also what torch's vectorised CPU erf uses.
_P = np.float32(0.3275911)
_A = tuple(
    np.float32(0.5 * a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_INV_SQRT2 = np.float32(0.7071067811865476)


def gelu_(x: F32, z: F32, t: F32, q: F32) -> F32:
    """Exact (erf) GELU x * Phi(x) in place, as (x + |x|) / 2 - |x| * Phi(-|x|) so one erfc
    evaluation on |x| covers both signs. ``z``, ``t``, ``q`` are scratch of x's shape."""
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


class PackedAttention:
    """Multi-head self-attention over packed fused-QKV rows, planned once per batch.

    Sequences arrive sorted by length and are taken in groups of equal length, so no
    padding or masking is ever needed; groups are capped so their scores stay in cache.
    Scores are computed transposed (keys x queries) so the softmax max-reduction runs
    over a non-last axis, which numpy vectorises (short last-axis reductions are slow),
    and the softmax denominators come out of the value matmul through a column of ones
    appended to V.
    """

    def __init__(self, lengths: I64, hidden: int, heads: int, budget_floats: int) -> None:
        self.heads, self.hd = heads, hidden // heads
        starts = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        self.groups: list[tuple[int, int, int]] = []  # (first row, sequences, length)
        i, count = 0, len(lengths)
        while i < count:
            n = int(lengths[i])
            cap = max(1, budget_floats // (heads * n * n))
            j = i + 1
            while j < count and j - i < cap and lengths[j] == n:
                j += 1
            self.groups.append((starts[i], j - i, n))
            i = j
        biggest = max(s * n for _, s, n in self.groups)
        self.scores = np.empty(max(s * n * n for _, s, n in self.groups) * heads, np.float32)
        self.v1 = np.ones((biggest * heads, self.hd + 1), dtype=np.float32)
        self.out = np.empty_like(self.v1)

    def __call__(self, qkv: F32, ctx: F32) -> None:
        """Write attention output for every packed row of ``qkv`` (T, 3H) into ``ctx`` (T, H)."""
        heads, hd = self.heads, self.hd
        for r0, s, n in self.groups:
            r1 = r0 + s * n
            qkv5 = qkv[r0:r1].reshape(s, n, 3, heads, hd)
            st = self.scores[: s * heads * n * n].reshape(s, heads, n, n)  # [seq, head, key, query]
            k = qkv5[:, :, 1].transpose(0, 2, 1, 3)
            np.matmul(k, qkv5[:, :, 0].transpose(0, 2, 3, 1), out=st)
            st -= st.max(axis=-2, keepdims=True)
            np.exp(st, out=st)
            v1 = self.v1[: s * heads * n].reshape(s, heads, n, hd + 1)
            out = self.out[: s * heads * n].reshape(s, heads, n, hd + 1)
            v1[..., :hd] = qkv5[:, :, 2].transpose(0, 2, 1, 3)
            np.matmul(st.swapaxes(-1, -2), v1, out=out)  # out[..., hd] = softmax denominators
            dest = ctx[r0:r1].reshape(s, n, heads, hd).transpose(0, 2, 1, 3)
            np.divide(out[..., :hd], out[..., hd:], out=dest)
