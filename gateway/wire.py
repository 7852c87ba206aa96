"""What the gateway and its clients agree on beyond the protobuf: lenient request
parsing (a client's undecodable message is an answerable value) and the status text
that marks Kafka's refusals.

gRPC answers a deserializer exception with INTERNAL; a client's bad bytes are an
INVALID_ARGUMENT, and earlier batches of the stream should still get their acks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How an UNAVAILABLE that Kafka caused begins (the gateway answered; the brokers did not
# take the batch or serve the sequences): the client tells it apart from a gateway it
# cannot reach.
KAFKA_REFUSED = "Kafka did not answer"
# The client's deadline for Resume; the gateway gives up on Kafka well within it, so the
# client hears why instead of a bare DEADLINE_EXCEEDED.
RESUME_DEADLINE_S = 10.0


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
