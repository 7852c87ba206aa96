"""Opaque page cursors: the keyset (sort key, id) of the last hit, versioned and checked.

The sort key ascends through a ranking: the cosine distance (SEMANTIC), or minus the
score (KEYWORD's ts_rank_cd and HYBRID's fusion both lie in [0, 1)).

Format: base64url (no padding) of compact JSON ``{"v":1,"d":distance,"i":id,"f":fk,"c":mac}``
where ``fk`` ties the cursor to the filter it was issued for (a cursor from another filter
would continue a different ranking) and ``mac`` is a keyed BLAKE2b of the rest, so an
edited or truncated cursor is refused instead of silently skipping or repeating hits.
The key is a constant: this is integrity, not secrecy -- a cursor only reveals a public
posting id and a distance. It is deliberately not tied to the query vector (two API
instances may embed the same text with last-bit differences); a cursor used with other
query text continues "after that distance", which is harmless.

Floats round-trip exactly through JSON (``repr``), so the next page's keyset predicate
``(distance, id) > (d, i)`` compares against the very value the database computed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass

from api.search.errors import InvalidCursor
from schemas.domain.limits import ID_PATTERN

VERSION = 1
_MAC_KEY = b"jobstream.search.cursor.v1"
_MAX_LEN = 1024
_FINGERPRINT_BYTES, _MAC_BYTES = 6, 8
# What the two digests look like in a cursor we issued: lower-case hex of their size.
_FINGERPRINT = re.compile(f"[0-9a-f]{{{2 * _FINGERPRINT_BYTES}}}")
_MAC = re.compile(f"[0-9a-f]{{{2 * _MAC_BYTES}}}")
# Cosine distance lies in [0, 2], minus a score in (-1, 0]; slack for float rounding.
_DISTANCE_MIN, _DISTANCE_MAX = -1.0 - 1e-6, 2.0 + 1e-6


@dataclass(frozen=True, slots=True)
class Keyset:
    """Position in the (sort key, id) order: the next page starts strictly after it;
    ``distance`` is the sort key (a cosine distance, or minus a score)."""

    distance: float
    posting_id: str


def filter_fingerprint(cache_key: str) -> str:
    return hashlib.blake2b(cache_key.encode(), digest_size=_FINGERPRINT_BYTES).hexdigest()


def _mac(distance: float, posting_id: str, fingerprint: str) -> str:
    body = f"{VERSION}|{distance!r}|{posting_id}|{fingerprint}".encode()
    return hashlib.blake2b(body, key=_MAC_KEY, digest_size=_MAC_BYTES).hexdigest()


def encode_cursor(keyset: Keyset, fingerprint: str) -> str:
    payload = {
        "v": VERSION,
        "d": keyset.distance,
        "i": keyset.posting_id,
        "f": fingerprint,
        "c": _mac(keyset.distance, keyset.posting_id, fingerprint),
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, fingerprint: str) -> Keyset:
    """The keyset in ``cursor``; :class:`InvalidCursor` if it is not one of ours for this
    filter (malformed, another version, edited, or issued for another filter)."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > _MAX_LEN:
        raise InvalidCursor("not a cursor returned by this search")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("not a cursor returned by this search") from None
    if not isinstance(payload, dict) or set(payload) != {"v", "d", "i", "f", "c"}:
        raise InvalidCursor("not a cursor returned by this search")
    if payload["v"] != VERSION:
        raise InvalidCursor(f"cursor version {payload['v']!r} is not supported; start over")
    distance, posting_id, fp, mac = payload["d"], payload["i"], payload["f"], payload["c"]
    # Shapes first, so the MAC is only computed over ASCII we issued ourselves: a forged
    # non-ASCII mac or a lone surrogate would otherwise fail in compare_digest or encode.
    if (
        not isinstance(distance, float)
        or not math.isfinite(distance)
        or not _DISTANCE_MIN <= distance <= _DISTANCE_MAX
        or not isinstance(posting_id, str)
        or not ID_PATTERN.fullmatch(posting_id)
        or not isinstance(fp, str)
        or not _FINGERPRINT.fullmatch(fp)
        or not isinstance(mac, str)
        or not _MAC.fullmatch(mac)
        or not hmac.compare_digest(mac, _mac(distance, posting_id, fp))
    ):
        raise InvalidCursor("cursor is corrupt or was modified")
    if fp != fingerprint:
        raise InvalidCursor("cursor belongs to a search with other filters; start over")
    return Keyset(distance, posting_id)
