"""Parsing operator input: datetimes and PARTITION:OFFSET, with errors that say what to type."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.ops.errors import UsageError


def parse_datetime(text: str, flag: str) -> datetime:
    """ISO 8601 (``2026-11-27T04:00:00Z``, ``2026-11-27T05:00:00+01:00``, ``2026-11-27``).
    Without an offset the time is taken as UTC, as Kafka's record timestamps are."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not an ISO 8601 datetime; write e.g. 2026-11-27T04:00:00Z "
            "or 2026-11-27T05:00:00+01:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed.year < 1971:
        raise UsageError(f"{flag} {text!r} is before any Kafka record could have been written")
    return parsed


def parse_partition_offset(text: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` with both non-negative integers, e.g. ``3:1200``."""
    part, sep, off = text.strip().partition(":")
    if not sep:
        raise UsageError(f"--to-offset {text!r}: expected PARTITION:OFFSET, e.g. 3:1200")
    try:
        partition, offset = int(part), int(off)
    except ValueError:
        raise UsageError(
            f"--to-offset {text!r}: PARTITION and OFFSET must be integers, e.g. 3:1200"
        ) from None
    if partition < 0 or offset < 0:
        raise UsageError(f"--to-offset {text!r}: PARTITION and OFFSET must be >= 0")
    return partition, offset
