"""How cached values become bytes for L2 (Redis) and back.

L1 keeps the decoded objects themselves; only L2 needs bytes. A codec is the one place
that knows a value's shape, so the cache stays generic.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")

__all__ = ["Codec", "CodecError", "JsonCodec", "NumpyCodec"]


class CodecError(ValueError):
    """Bytes that this codec did not write (another version, corruption): treated as a miss."""


class Codec(Protocol[T]):
    """Turns a value into bytes and back; ``loads(dumps(v))`` must equal ``v``."""

    def dumps(self, value: T) -> bytes: ...

    def loads(self, data: bytes) -> T: ...


class JsonCodec(Generic[T]):
    """JSON through a pair of plain functions, e.g. ``JsonCodec(View.to_dict, View.from_dict)``.

    Compact separators and UTF-8 (no ``\\u`` escapes) keep Redis values small.
    """

    def __init__(self, to_dict: Callable[[T], Any], from_dict: Callable[[Any], T]) -> None:
        self._to_dict = to_dict
        self._from_dict = from_dict

    def dumps(self, value: T) -> bytes:
        return json.dumps(self._to_dict(value), separators=(",", ":"), ensure_ascii=False).encode()

    def loads(self, data: bytes) -> T:
        try:
            decoded = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CodecError(f"not JSON: {exc}") from None
        return self._from_dict(decoded)


_NP_MAGIC = b"F4"
_DIM = struct.Struct("<I")


class NumpyCodec:
    """float32 arrays (query embeddings) as raw little-endian bytes with their shape.

    384 floats are 1.5 KB instead of ~7 KB of JSON, and decoding is a zero-copy
    ``frombuffer``: the array returned is read-only, which also protects the L1 copy
    from callers that would modify it in place.
    """

    def dumps(self, value: npt.NDArray[np.float32]) -> bytes:
        array = np.ascontiguousarray(value, dtype="<f4")
        if array.ndim > 255:
            raise ValueError("too many dimensions")
        shape = b"".join(_DIM.pack(n) for n in array.shape)
        return _NP_MAGIC + bytes([array.ndim]) + shape + array.tobytes()

    def loads(self, data: bytes) -> npt.NDArray[np.float32]:
        if data[:2] != _NP_MAGIC or len(data) < 3:
            raise CodecError("not a NumpyCodec value")
        ndim = data[2]
        start = 3 + ndim * _DIM.size
        shape = tuple(_DIM.unpack_from(data, 3 + i * _DIM.size)[0] for i in range(ndim))
        count = int(np.prod(shape)) if shape else 1
        if len(data) - start != count * 4:
            raise CodecError(f"NumpyCodec value of shape {shape} has {len(data) - start} bytes")
        array = np.frombuffer(data, dtype="<f4", offset=start, count=count).reshape(shape)
        return array.astype(np.float32, copy=False)
