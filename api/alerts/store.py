"""Reading ``saved_searches`` and the ``alerts`` ledger (migration 0009); never writing.

The API only reads the read model: saved searches change through saved-searches.v1 (the
materialiser applies them), alerts are written by the matcher. A saved search is found
by id and its secret checked here, in constant time and with the same answer for an
unknown id, a deleted search and a wrong secret (:class:`WrongSecret`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import numpy as np

from api.database import ApiPool
from api.search.highlight import Highlight, HighlightField, HighlightKind
from schemas.errors import BadInputError, UnauthenticatedError
from schemas.saved_searches import ID, SavedSearch, filter_of

_CURSOR = re.compile(r"^[0-9]{1,18}$")
_NO_SUCH_HASH = hashlib.sha256(b"no such saved search").digest()
WRONG_SECRET = "unknown saved search or wrong secret"


class WrongSecret(UnauthenticatedError):
    """The one answer to an unknown id, a deleted search or a wrong secret/token."""

    def __init__(self) -> None:
        super().__init__(WRONG_SECRET)


class BadCursor(BadInputError):
    field: str

    def __init__(self, field: str = "after") -> None:
        super().__init__(
            f"{field} is not an alert cursor (a sequence this API returned)", field=field
        )


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def parse_cursor(value: str | None, field: str = "after") -> int | None:
    """An alert cursor (the ledger's published sequence, in decimal) as an int; None = from
    the start."""
    if value is None or value == "":
        return None
    if not _CURSOR.fullmatch(value):
        raise BadCursor(field)
    return int(value)


@dataclass(frozen=True, slots=True)
class AlertRow:
    saved_search_id: str
    posting_id: str
    version: int
    score: float
    highlights: tuple[Highlight, ...]
    backfill: bool
    closed: bool
    committed_at: datetime
    matched_at: datetime
    sequence: int  # the published sequence: where a reader resumes

    @property
    def cursor(self) -> str:
        return str(self.sequence)


def _highlight(data: Any) -> Highlight | None:
    """One stored highlight: the API's own shape (field, kind, text, ranges of (start,
    length)) or alerts.proto's (field, fragment, ranges of [start, end)); None if neither."""
    if not isinstance(data, dict):
        return None
    try:
        field = HighlightField(str(data["field"]).upper())
        if "fragment" in data:
            text = str(data["fragment"])
            ranges = tuple((int(s), int(e) - int(s)) for s, e in data.get("ranges", ()))
            kind = HighlightKind.TERMS
        else:
            text = str(data["text"])
            ranges = tuple((int(s), int(n)) for s, n in data.get("ranges", ()))
            kind = HighlightKind(str(data.get("kind", "TERMS")).upper())
    except (KeyError, ValueError, TypeError):
        return None
    return Highlight(field=field, kind=kind, text=text, ranges=ranges)


def _highlights(value: Any) -> tuple[Highlight, ...]:
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, list):
        return ()
    return tuple(h for h in (_highlight(item) for item in data) if h is not None)


def _alert(row: asyncpg.Record) -> AlertRow:
    return AlertRow(
        saved_search_id=row["saved_search_id"],
        posting_id=row["posting_id"],
        version=row["version"],
        score=float(row["score"]),
        highlights=_highlights(row["highlights"]),
        backfill=row["backfill"],
        closed=row["closed"],
        committed_at=row["committed_at"],
        matched_at=row["matched_at"],
        sequence=row["sequence"],
    )


_SAVED = """
SELECT id, secret_sha256, query, filter::text AS filter, mode, min_score,
       embedding::text AS embedding_text, embedding_model, webhook_url,
       webhook_signing_secret, email, email_schedule, unsubscribe_token, backfill_days,
       created_at
FROM saved_searches WHERE id = $1 AND NOT deleted
"""
_ALERT_COLUMNS = """saved_search_id, posting_id, version, score, highlights::text AS highlights,
       backfill, closed, committed_at, matched_at, published_sequence AS sequence"""


def _vector_bytes(text: str | None) -> bytes | None:
    """pgvector's text form as float32 little-endian (the SavedSearch record's layout)."""
    if text is None:
        return None
    values = json.loads(text)
    return np.asarray(values, dtype="<f4").tobytes()


class AlertStore:
    def __init__(self, pool: ApiPool) -> None:
        self._pool = pool

    async def saved(self, saved_search_id: str) -> SavedSearch | None:
        if not ID.fullmatch(saved_search_id):
            return None
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_SAVED, saved_search_id)
        if row is None:
            return None
        return SavedSearch(
            id=row["id"],
            secret_sha256=bytes(row["secret_sha256"]),
            query=row["query"],
            filter=filter_of(row["filter"], row["id"]),
            mode=row["mode"],
            min_score=float(row["min_score"]),
            embedding=_vector_bytes(row["embedding_text"]),
            embedding_model=row["embedding_model"],
            webhook_url=row["webhook_url"],
            webhook_signing_secret=row["webhook_signing_secret"],
            email=row["email"],
            email_schedule=row["email_schedule"],
            unsubscribe_token=row["unsubscribe_token"],
            backfill_days=row["backfill_days"],
            created_at=row["created_at"],
        )

    async def authenticate(self, saved_search_id: str, secret: str) -> SavedSearch:
        """The saved search whose secret this is; :class:`WrongSecret` otherwise (unknown
        and wrong are compared the same way, against a hash that matches nothing)."""
        row = await self.saved(saved_search_id)
        expected = row.secret_sha256 if row is not None else _NO_SUCH_HASH
        ok = hmac.compare_digest(secret_hash(secret), expected)
        if row is None or not ok:
            raise WrongSecret()
        return row

    async def by_token(self, saved_search_id: str, token: str) -> SavedSearch:
        """The saved search whose unsubscribe token this is; :class:`WrongSecret` otherwise."""
        row = await self.saved(saved_search_id)
        expected = (row.unsubscribe_token or "") if row is not None else "\x00"
        ok = hmac.compare_digest(token.encode("utf-8", "replace"), expected.encode())
        if row is None or not row.unsubscribe_token or not ok:
            raise WrongSecret()
        return row

    async def newest(
        self, saved_search_id: str, first: int, before: int | None
    ) -> tuple[list[AlertRow], bool]:
        """Up to ``first`` published alerts newest first, below ``before``; and whether
        there are more."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE saved_search_id = $1"
                " AND published_sequence IS NOT NULL"
                " AND ($2::bigint IS NULL OR published_sequence < $2)"
                " ORDER BY published_sequence DESC LIMIT $3",
                saved_search_id,
                before,
                first + 1,
            )
        return [_alert(r) for r in rows[:first]], len(rows) > first

    async def since(self, saved_search_id: str, after: int | None, limit: int) -> list[AlertRow]:
        """Up to ``limit`` alerts published after ``after``, oldest first (a subscription's
        next batch). The published sequence, unlike the ledger's, only grows in the order
        rows become visible (migration 0012), so resuming after a cursor skips nothing."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE saved_search_id = $1"
                " AND published_sequence > $2 ORDER BY published_sequence LIMIT $3",
                saved_search_id,
                after if after is not None else 0,
                limit,
            )
        return [_alert(r) for r in rows]
