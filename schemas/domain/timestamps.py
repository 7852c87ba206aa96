"""Timestamps: proto ``Timestamp`` <-> aware UTC ``datetime`` <-> ISO 8601 text.

Precision is microseconds (Python and Postgres both stop there): nanoseconds beyond that
are truncated on the way in, so ``to_proto(validate_event(msg))`` may differ from ``msg``
in the last three digits of ``nanos``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from schemas.domain.errors import InvalidPosting, RejectReason
from schemas.domain.limits import POSTED_AT_MAX, POSTED_AT_MIN

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_SECONDS = int((POSTED_AT_MIN - EPOCH).total_seconds())
_MAX_SECONDS = int((POSTED_AT_MAX - EPOCH).total_seconds())
_RANGE = f"{POSTED_AT_MIN.date().isoformat()} to {POSTED_AT_MAX.date().isoformat()}"


def from_timestamp(ts: Timestamp, field: str) -> datetime:
    """An aware UTC datetime, or InvalidPosting if outside [POSTED_AT_MIN, POSTED_AT_MAX)."""
    if not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            field,
            f"{field}.nanos must be between 0 and 999999999 (got {ts.nanos})",
        )
    if not _MIN_SECONDS <= ts.seconds < _MAX_SECONDS:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            field,
            f"{field} ({ts.seconds} s since the epoch) is outside {_RANGE}",
        )
    return EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def to_timestamp(value: datetime) -> Timestamp:
    """Exact for any aware datetime (timedelta keeps seconds and microseconds non-negative)."""
    delta = value - EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def parse_iso(text: str, field: str) -> datetime:
    """Parse ISO 8601 with an explicit offset ("Z" or "+02:00") and convert it to UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            field,
            f"{field} {text[:60]!r} is not an ISO 8601 timestamp (e.g. 2026-11-26T10:00:00Z)",
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            field,
            f"{field} {text[:60]!r} has no timezone; add Z for UTC (e.g. 2026-11-26T10:00:00Z)",
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD, field, f"{field} {text[:60]!r} is outside {_RANGE}"
        ) from None


def format_iso(value: datetime) -> str:
    """UTC ISO 8601 with a "Z" suffix, e.g. 2026-11-26T10:00:00Z (microseconds if any)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
