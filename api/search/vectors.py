"""Query vectors: checked, then written as pgvector text.

Text, not pgvector's binary codec, so the repository works with any asyncpg pool
(with or without ``register_vector`` in its init); see :mod:`api.search.sql`.
Nine significant digits print any float32 so that it parses back to the same float32,
so the database compares against exactly the vector the caller passed (``%.9g``
formatting: ~50 us for 384 values, a third of ``repr``'s cost).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from api.search.errors import InvalidQuery


def to_pgvector_text(vector: npt.ArrayLike, dim: int) -> str:
    """``[v1,v2,...]`` for a finite, non-zero, ``dim``-long vector; InvalidQuery otherwise.

    Zero vectors are refused because their cosine distance is NaN and would poison the
    ordering (and the cursor) rather than fail.
    """
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidQuery("vector", "the query vector must be numbers") from None
    if array.ndim != 1 or array.shape[0] != dim:
        raise InvalidQuery(
            "vector", f"the query vector must have {dim} values (got shape {array.shape})"
        )
    if not np.isfinite(array).all():
        raise InvalidQuery("vector", "the query vector contains NaN or infinity")
    if not np.any(array):
        raise InvalidQuery("vector", "the query vector is all zeros (no direction to rank by)")
    return _format(dim) % tuple(array.tolist())


@functools.cache
def _format(dim: int) -> str:
    return "[" + ",".join(["%.9g"] * dim) + "]"
