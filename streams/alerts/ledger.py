"""The alerts ledger as an outbox: which rows are not on alerts.v1 yet, marking them, and
the publisher's checkpoint in the topic (``alerts_publisher_offsets``).

A ledger row becomes one :class:`Alert` record (:func:`alert_of`); its ``sequence`` is
unique in the table and a close gets a new one, so a record read back from the topic
names exactly the ledger state it published (:data:`MARK` by sequence).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from schemas.jobstream.v1 import alerts_pb2
from schemas.search.marks import TITLE_OPTIONS, ranges_of

# An open alert's event carries its title with the saved query's terms marked (the
# lexical query the match used, through ts_headline as search marks titles); the ledger
# row keeps what the matcher stored, and the API marks titles and descriptions on read.
PENDING = f"""
SELECT a.saved_search_id, a.posting_id, a.version, a.score, a.highlights, a.backfill,
    a.closed, a.committed_at, a.matched_at, a.sequence,
    CASE WHEN NOT a.closed AND s.lexical_query IS NOT NULL AND p.title IS NOT NULL
        THEN ts_headline('english', p.title, s.lexical_query, '{TITLE_OPTIONS}')
    END AS title_marked
FROM alerts AS a
LEFT JOIN saved_searches AS s ON s.id = a.saved_search_id
LEFT JOIN postings AS p ON p.id = a.posting_id
WHERE NOT a.published ORDER BY a.sequence LIMIT $1
"""

# The reader's order is drawn here, under the publisher's lock (migration 0012).
MARK = (
    "UPDATE alerts SET published = true,"
    " published_sequence = nextval('alerts_published_sequence')"
    " WHERE sequence = ANY($1::bigint[]) AND NOT published"
)

OFFSETS = "SELECT partition, next_offset FROM alerts_publisher_offsets WHERE topic = $1"

ADVANCE = """
INSERT INTO alerts_publisher_offsets (topic, partition, next_offset)
SELECT $1, p, o FROM unnest($2::integer[], $3::bigint[]) AS t(p, o)
ON CONFLICT (topic, partition) DO UPDATE
SET next_offset = GREATEST(alerts_publisher_offsets.next_offset, EXCLUDED.next_offset)
"""


def alert_of(row: Mapping[str, Any], marks: dict[str, str] | None = None) -> alerts_pb2.Alert:
    """The alerts.v1 record of one ledger row; ``marks`` caches highlights by marked
    title (one popular query matches a posting for many saved searches)."""
    key = f"{row['highlights']}\x00{row.get('title_marked')}"
    found = None if marks is None else marks.get(key)
    if found is None:
        found = json.dumps(highlights_of(row), ensure_ascii=False)
        if marks is not None:
            marks[key] = found
    msg = alerts_pb2.Alert(
        id=f"{row['saved_search_id']}/{row['posting_id']}",
        saved_search_id=row["saved_search_id"],
        posting_id=row["posting_id"],
        version=row["version"],
        score=row["score"],
        highlights_json=found,
        backfill=row["backfill"],
        closed=row["closed"],
        sequence=row["sequence"],
    )
    msg.committed_at.FromMicroseconds((_utc(row["committed_at"]) - _EPOCH) // _MICROSECOND)
    msg.matched_at.FromMicroseconds((_utc(row["matched_at"]) - _EPOCH) // _MICROSECOND)
    return msg


def highlights_of(row: Mapping[str, Any]) -> list[Any]:
    """The ledger row's highlights, or else its marked title (search's structure: field,
    kind, text, ranges of ``[start, length]`` code points); [] when nothing is marked."""
    stored = row["highlights"]
    found = json.loads(stored) if isinstance(stored, str) else list(stored or [])
    marked = row.get("title_marked")
    if found or not marked:
        return found
    text, ranges = ranges_of(marked)
    if not ranges:
        return []
    return [{"field": "TITLE", "kind": "TERMS", "text": text, "ranges": [list(r) for r in ranges]}]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


async def mark(
    conn: asyncpg.Connection, topic: str, sequences: Sequence[int], ends: Mapping[int, int]
) -> int:
    """Mark ``sequences`` published and move the checkpoint to ``ends`` (partition -> the
    offset past the last record written), in one transaction; rows marked."""
    async with conn.transaction():
        status = await conn.execute(MARK, list(sequences))
        if ends:
            await conn.execute(ADVANCE, topic, list(ends), list(ends.values()))
    return int(status.rsplit(" ", 1)[-1])


async def checkpoint(conn: asyncpg.Connection, topic: str) -> dict[int, int]:
    """Partition -> the offset past the last record known to be published."""
    return {int(r["partition"]): int(r["next_offset"]) for r in await conn.fetch(OFFSETS, topic)}
