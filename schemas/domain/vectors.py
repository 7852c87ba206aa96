"""Embedding encoding: the proto carries little-endian float32 bytes, the domain a numpy array.

Arrays handed out are read-only views over immutable bytes, so a frozen Posting's vector
cannot be changed behind its back and unpacking costs no copy. A validated embedding is
unit-normalised, so what the log carries and the read model stores has norm 1.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from schemas.domain import limits as L
from schemas.domain.errors import InvalidPosting, RejectReason

FLOAT32_LE = np.dtype("<f4")

Vector = npt.NDArray[np.float32]


def pack_embedding(vector: npt.ArrayLike) -> bytes:
    """Encode a 1-D vector as little-endian float32 bytes (values are cast to float32)."""
    array = np.asarray(vector, dtype=FLOAT32_LE)
    if array.ndim != 1:
        raise ValueError(f"an embedding is a 1-D vector (got shape {array.shape})")
    return array.tobytes()


def unpack_embedding(data: bytes | bytearray | memoryview, dim: int) -> Vector:
    """Decode ``dim`` float32 values without copying; raises InvalidPosting on a wrong length.

    Finiteness and norm are not checked here: see :func:`validate_embedding`.
    """
    data = bytes(data)
    size = FLOAT32_LE.itemsize
    if len(data) != dim * size:
        if not data:
            got = "is missing"
        elif len(data) % size:
            got = f"has {len(data)} bytes, not a whole number of float32 values"
        else:
            got = f"has {len(data) // size} values"
        raise InvalidPosting(
            RejectReason.INVALID_EMBEDDING,
            "embedding",
            f"embedding {got}; expected {dim} float32 values ({dim * size} bytes, little-endian)",
        )
    return cast(Vector, np.frombuffer(data, dtype=FLOAT32_LE))


def check_embedding(vector: Vector) -> float:
    """Reject vectors a similarity search cannot rank fairly; return the norm (float64).

    Every value must be finite and the Euclidean norm within
    [EMBEDDING_NORM_MIN, EMBEDDING_NORM_MAX] (see :mod:`schemas.domain.limits`): a tiny or
    huge norm underflows or overflows pgvector's float32 arithmetic and games the ranking.
    """
    finite = np.isfinite(vector)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        raise InvalidPosting(
            RejectReason.INVALID_EMBEDDING,
            "embedding",
            f"embedding[{index}] is {float(vector[index])}; every value must be a finite float32",
        )
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if not vector.any():
        raise InvalidPosting(
            RejectReason.INVALID_EMBEDDING,
            "embedding",
            "embedding has zero norm (all values are 0); cosine similarity is undefined",
        )
    if not L.EMBEDDING_NORM_MIN <= norm <= L.EMBEDDING_NORM_MAX:
        side = "below" if norm < L.EMBEDDING_NORM_MIN else "above"
        bound = L.EMBEDDING_NORM_MIN if side == "below" else L.EMBEDDING_NORM_MAX
        raise InvalidPosting(
            RejectReason.INVALID_EMBEDDING,
            "embedding",
            f"embedding norm {norm:.3g} is {side} {bound:g}; the norm must be between "
            f"{L.EMBEDDING_NORM_MIN:g} and {L.EMBEDDING_NORM_MAX:g} (vectors are compared by "
            "cosine and stored unit-normalised)",
        )
    return norm


def unit_normalised(vector: Vector, norm: float) -> Vector:
    """The vector scaled to norm 1 (in float64, then float32); as it is when already so."""
    if abs(norm - 1.0) <= L.EMBEDDING_UNIT_TOLERANCE:
        return vector
    unit = (vector.astype(np.float64) / norm).astype(FLOAT32_LE)
    return cast(Vector, np.frombuffer(unit.tobytes(), dtype=FLOAT32_LE))


def validate_embedding(data: bytes, dim: int) -> Vector:
    """Unpack and check (exactly ``dim`` finite values, a sane norm); return it unit-normalised."""
    vector = unpack_embedding(data, dim)
    return unit_normalised(vector, check_embedding(vector))


def as_embedding(vector: npt.ArrayLike) -> tuple[Vector, bytes]:
    """The read-only little-endian float32 view and its bytes (reused when already so)."""
    if (
        isinstance(vector, np.ndarray)
        and vector.dtype == FLOAT32_LE
        and vector.ndim == 1
        and vector.flags.c_contiguous
        and isinstance(vector.base, bytes)
        and len(vector.base) == vector.nbytes
        and not vector.flags.writeable
    ):
        return cast(Vector, vector), vector.base
    packed = pack_embedding(vector)
    return cast(Vector, np.frombuffer(packed, dtype=FLOAT32_LE)), packed
