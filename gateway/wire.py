"""Lenient request parsing: a client's undecodable message is an answerable value.

gRPC answers a deserializer exception with INTERNAL; a client's bad bytes are an
INVALID_ARGUMENT, and earlier batches of the stream should still get their acks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A request message that is not valid protobuf for its type (kept to answer it)."""

    size: int
    error: str


def lenient(message: type[Any]) -> Any:
    """A request deserializer that returns :class:`Undecodable` instead of raising.

    gRPC answers a deserializer exception with INTERNAL; a client's bad bytes are an
    INVALID_ARGUMENT, and earlier batches of the stream should still get their acks.
    """

    def parse(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except Exception as exc:
            return Undecodable(len(data), str(exc) or type(exc).__name__)

    return parse
