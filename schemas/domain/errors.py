"""Why a record is rejected: one exception family for the gateway, the sink and the CLI.

Every poison record is a :class:`PoisonRecord` whose ``error_class`` is the short, stable
string the dead-letter queue and metrics label it with. Validation stops at the first
problem (fields are checked in proto order) and the message names the field and says
what is wrong with it, so a producer can fix its data from the message alone.
"""

from __future__ import annotations

import enum

from schemas.errors import BadInputError
from schemas.jobstream.v1 import ingest_pb2


class RejectReason(enum.IntEnum):
    """Mirror of ``jobstream.v1.RejectReason`` (same names and numbers; a test checks).

    An IntEnum so it can be assigned straight to ``Rejection.reason``.
    """

    REJECT_REASON_UNSPECIFIED = 0
    INVALID_ID = 1
    INVALID_VERSION = 2
    MISSING_FIELD = 3
    INVALID_FIELD = 4
    TOO_LONG = 5
    INVALID_EMBEDDING = 6
    DUPLICATE_IN_BATCH = 7


class PoisonRecord(Exception):
    """A record that can never be processed, however often it is retried: dead-letter it."""

    error_class: str = "poison"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UndecodableRecord(PoisonRecord):
    """The record's bytes are not a ``PostingEvent`` protobuf (or there are no bytes)."""

    error_class = "undecodable"


class InvalidPosting(PoisonRecord, BadInputError):
    """A well-formed event that breaks a domain rule (or JSON that cannot become one).

    ``error_class`` is the reason's name in lower case, e.g. ``"invalid_field"``; the
    reason itself is the finer code under the kind (bad input) that the API maps.
    """

    field: str

    def __init__(self, reason: RejectReason | int | str, field: str, message: str) -> None:
        super().__init__(message)
        self.reason = _reason(reason)
        self.field = field
        self.error_class = self.reason.name.lower()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason.name}, {self.field!r}, {self.message!r})"

    def to_rejection(self, *, id: str, index: int) -> ingest_pb2.Rejection:
        """The gateway's per-record answer for this problem (record ``index`` in its batch)."""
        return ingest_pb2.Rejection(
            id=id, index=index, reason=self.reason.name, message=self.message
        )


class KeyMismatch(InvalidPosting):
    """The Kafka record key is not the event's id, so the record sits on the wrong
    partition and per-id ordering cannot be trusted."""

    def __init__(self, key: bytes | None, event_id: str) -> None:
        shown = "no key" if key is None else f"key {key[:140]!r}"
        super().__init__(
            RejectReason.INVALID_ID,
            "key",
            f"record key does not match the event id: {shown}, id {event_id[:140]!r}",
        )
        self.key = key
        self.event_id = event_id
        self.error_class = "key_mismatch"


def _reason(value: RejectReason | int | str) -> RejectReason:
    if isinstance(value, str):
        return RejectReason[value]
    return RejectReason(value)
