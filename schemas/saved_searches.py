"""A saved search as the API writes it to saved-searches.v1 and the alerts workers read
it back (issue #13, docs/alerts.md): its id, mode and schedule names, the record's
fields (:class:`SavedSearch`), and the codec both sides share.

Anything may be on the topic (any client can write to it), so :func:`decode` checks
every field and a bad record is a :class:`BadRecord` naming the reason (the metric's
label), never an exception the materialiser dies of. The filter is read back through
:class:`PostingFilter` and stored canonical.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from schemas.jobstream.v1 import alerts_pb2
from schemas.search.filters import PostingFilter

ID = re.compile(r"^ss_[A-Za-z0-9_-]{22}$")

# SavedSearch.mode (alerts.proto) -> the saved_searches.mode column; UNSPECIFIED is HYBRID.
MODES = {0: "HYBRID", 1: "HYBRID", 2: "SEMANTIC", 3: "KEYWORD"}
# Delivery.email_schedule -> the email_schedule column; UNSPECIFIED is no email.
SCHEDULES: dict[int, str | None] = {0: None, 1: "IMMEDIATE", 2: "DAILY"}
EMAIL_SCHEDULES = ("IMMEDIATE", "DAILY")


def new_id() -> str:
    """A fresh id: "ss_" and 16 random bytes, url-safe (22 characters)."""
    return "ss_" + secrets.token_urlsafe(16)


MAX_QUERY_CHARS = 4_000  # far above what the API accepts; a bound for hostile writers
MAX_BACKFILL_DAYS = 3_650
_FILTER_FIELDS = {f.name for f in fields(PostingFilter)}


class BadRecord(ValueError):
    """A record that is no usable saved search; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SavedSearch:
    """One saved search as its record says it: what the API writes, the materialiser
    stores as a ``saved_searches`` row (its lexemes computed in SQL) and the API reads
    back. ``filter`` is canonical; ``embedding`` float32 little-endian bytes."""

    id: str
    secret_sha256: bytes
    query: str
    filter: PostingFilter
    mode: str
    min_score: float
    embedding: bytes | None
    embedding_model: str | None
    webhook_url: str | None
    webhook_signing_secret: str | None
    email: str | None
    email_schedule: str | None
    unsubscribe_token: str | None
    backfill_days: int
    created_at: datetime
    deleted: bool = False


def record_of(row: SavedSearch, *, deleted: bool = False) -> alerts_pb2.SavedSearch:
    """The SavedSearch record of a row (every field repeated: the topic is compacted, the
    latest record per id is all that remains)."""
    msg = alerts_pb2.SavedSearch(
        id=row.id,
        secret_sha256=row.secret_sha256,
        query=row.query,
        filter_json=json.dumps(row.filter.to_dict(), sort_keys=True, separators=(",", ":")),
        mode="SAVED_SEARCH_" + row.mode,
        min_score=row.min_score,
        delivery=alerts_pb2.Delivery(
            webhook_url=row.webhook_url or "",
            email=row.email or "",
            email_schedule=(
                "EMAIL_" + row.email_schedule
                if row.email and row.email_schedule
                else "EMAIL_SCHEDULE_UNSPECIFIED"
            ),
        ),
        query_embedding=row.embedding or b"",
        embedding_model=row.embedding_model or "",
        deleted=deleted,
        backfill_days=row.backfill_days,
        unsubscribe_token=row.unsubscribe_token or "",
        webhook_signing_secret=row.webhook_signing_secret or "",
    )
    msg.created_at.FromDatetime(row.created_at)
    return msg


def decode(key: bytes | None, value: bytes, dim: int) -> SavedSearch:
    """The row of one record's bytes; :class:`BadRecord` when it is none."""
    try:
        msg = alerts_pb2.SavedSearch.FromString(value)
    except (DecodeError, ValueError) as exc:
        raise BadRecord("undecodable", str(exc) or "not a SavedSearch") from None
    if not ID.match(msg.id):
        raise BadRecord("bad_id", f"id {msg.id[:80]!r} is not ss_ + 22 url-safe characters")
    if key is not None and key != msg.id.encode():
        raise BadRecord("key_mismatch", f"record key differs from id {msg.id}")
    if len(msg.secret_sha256) != 32:
        raise BadRecord("bad_secret", f"{msg.id}: secret_sha256 is not 32 bytes")
    if msg.mode not in MODES:
        raise BadRecord("bad_mode", f"{msg.id}: unknown mode {msg.mode}")
    if msg.delivery.email_schedule not in SCHEDULES:
        raise BadRecord("bad_schedule", f"{msg.id}: unknown email schedule")
    if not math.isfinite(msg.min_score) or not -1.0 <= msg.min_score <= 1.0:
        raise BadRecord("bad_min_score", f"{msg.id}: min_score {msg.min_score} not in [-1, 1]")
    if not msg.HasField("created_at"):
        raise BadRecord("no_created_at", f"{msg.id}: created_at missing")
    texts = (
        msg.query,
        msg.filter_json,
        msg.embedding_model,
        msg.delivery.webhook_url,
        msg.delivery.email,
        msg.unsubscribe_token,
        msg.webhook_signing_secret,
    )
    if any("\x00" in t for t in texts):
        raise BadRecord("nul_character", f"{msg.id}: a text field holds NUL")
    if len(msg.query) > MAX_QUERY_CHARS:
        raise BadRecord("query_too_long", f"{msg.id}: query of {len(msg.query)} characters")
    try:
        created_at = msg.created_at.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise BadRecord("no_created_at", f"{msg.id}: created_at out of range") from None
    return SavedSearch(
        id=msg.id,
        secret_sha256=bytes(msg.secret_sha256),
        query=msg.query,
        filter=filter_of(msg.filter_json, msg.id),
        mode=MODES[msg.mode],
        min_score=float(msg.min_score),
        embedding=_embedding(msg.id, bytes(msg.query_embedding), dim),
        embedding_model=msg.embedding_model or None,
        webhook_url=msg.delivery.webhook_url or None,
        webhook_signing_secret=msg.webhook_signing_secret or None,
        email=msg.delivery.email or None,
        email_schedule=SCHEDULES[msg.delivery.email_schedule] if msg.delivery.email else None,
        unsubscribe_token=msg.unsubscribe_token or None,
        backfill_days=min(int(msg.backfill_days), MAX_BACKFILL_DAYS),
        created_at=created_at,
        deleted=msg.deleted,
    )


def filter_of(text: str, search_id: str = "") -> PostingFilter:
    """The canonical filter of ``filter_json`` or the ``filter`` column ("" = none)."""
    if not text.strip():
        return PostingFilter()
    try:
        raw: Any = json.loads(text)
    except ValueError as exc:
        raise BadRecord("bad_filter", f"{search_id}: filter_json is not JSON ({exc})") from None
    if not isinstance(raw, dict) or not set(raw) <= _FILTER_FIELDS:
        raise BadRecord("bad_filter", f"{search_id}: filter_json is not a PostingFilter object")
    if isinstance(raw.get("posted_after"), str):
        try:
            raw["posted_after"] = datetime.fromisoformat(raw["posted_after"])
        except ValueError:
            raise BadRecord("bad_filter", f"{search_id}: posted_after is no ISO instant") from None
    try:
        return PostingFilter(**raw).normalized()
    except (ValueError, TypeError) as exc:  # InvalidFilter is a ValueError
        raise BadRecord("bad_filter", f"{search_id}: {exc}") from None


def _embedding(search_id: str, raw: bytes, dim: int) -> bytes | None:
    """The query vector's float32 bytes, or None for no query vector."""
    if not raw:
        return None
    if len(raw) != 4 * dim:
        raise BadRecord("bad_embedding", f"{search_id}: {len(raw)} bytes, not {dim} float32")
    if not np.isfinite(np.frombuffer(raw, "<f4")).all():
        raise BadRecord("bad_embedding", f"{search_id}: the vector holds NaN or infinity")
    return raw
