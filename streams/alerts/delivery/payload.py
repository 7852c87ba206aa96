"""What a receiver gets: an alert as JSON, with a link to its posting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings


def public_url(settings: Settings) -> str:
    """JOBSTREAM_PUBLIC_URL (the API's setting, default the local API), no trailing /."""
    return settings.public_url.rstrip("/")


def posting_url(public_url: str, posting_id: str) -> str:
    return f"{public_url}/postings/{quote(posting_id, safe='')}"


def _time(ts: Any) -> str | None:
    if not ts.seconds and not ts.nanos:
        return None
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, UTC).isoformat()


def highlights(alert: alerts_pb2.Alert) -> list[Any]:
    """The alert's highlights; [] when absent or not a JSON list."""
    try:
        value = json.loads(alert.highlights_json or "[]")
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def as_json(alert: alerts_pb2.Alert, public_url: str) -> dict[str, Any]:
    return {
        "alert_id": alert.id,
        "saved_search_id": alert.saved_search_id,
        "posting_id": alert.posting_id,
        "version": alert.version,
        "score": round(float(alert.score), 6),
        "highlights": highlights(alert),
        "backfill": alert.backfill,
        "closed": alert.closed,
        "committed_at": _time(alert.committed_at),
        "matched_at": _time(alert.matched_at),
        "sequence": alert.sequence,
        "posting_url": posting_url(public_url, alert.posting_id),
    }


def body(alert: alerts_pb2.Alert, public_url: str) -> bytes:
    """The POST body, compact and key-sorted (the signature covers these exact bytes)."""
    return json.dumps(
        as_json(alert, public_url), separators=(",", ":"), sort_keys=True, ensure_ascii=False
    ).encode()


def matched_at(alert: alerts_pb2.Alert) -> float | None:
    """Unix seconds of the match (latency), None when unset."""
    ts = alert.matched_at
    return ts.seconds + ts.nanos / 1e9 if ts.seconds or ts.nanos else None
