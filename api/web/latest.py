"""Newest postings first, for the search page without a query text.

The search service ranks by meaning and needs a text; a visitor who only picks filters
(or just arrives) expects the newest postings. This is the one listing the service has
no operation for, so it follows the service's rules instead of bypassing them: the page
of ids is cached generationally in the same :class:`~api.cache.TieredCache` (kind
``latest``, retired by the same invalidation events as search pages) and the postings
come through :meth:`SearchService.postings` (the by-id cache). The rows come from
:meth:`PostingRepository.latest`, whose SQL uses the search's filter clause, so a filter
means exactly what it means in a search.

Keyset pagination on ``(posted_at, id)`` descending with a cursor bound to the filter.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api.cache import JsonCodec
from api.search import PostingFilter, PostingView
from api.search.cursor import filter_fingerprint
from api.service import SearchService
from api.web.params import BadParam
from schemas.domain.limits import ID_PATTERN

PREFIX = "n1:"


@dataclass(frozen=True, slots=True)
class LatestPage:
    ids: tuple[str, ...]
    end_cursor: str | None
    has_next_page: bool

    def to_dict(self) -> dict[str, Any]:
        return {"ids": list(self.ids), "end": self.end_cursor, "next": self.has_next_page}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatestPage:
        return cls(tuple(data["ids"]), data["end"], bool(data["next"]))


_CODEC: JsonCodec[LatestPage] = JsonCodec(LatestPage.to_dict, LatestPage.from_dict)


def is_latest_cursor(after: str | None) -> bool:
    return after is not None and after.startswith(PREFIX)


def encode(posted_at: datetime, posting_id: str, fingerprint: str) -> str:
    raw = json.dumps([posted_at.isoformat(), posting_id, fingerprint], separators=(",", ":"))
    return PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, fingerprint: str) -> tuple[datetime, str]:
    """The keyset of a cursor, its time in UTC; BadParam("after") when garbled, out of
    range or made for another filter (never an error further down: a year-1 date at
    +14:00 would overflow in the driver, a lone surrogate in the cache key)."""
    garbled = BadParam("after", "after is not a page cursor this site made")
    body = cursor.removeprefix(PREFIX)
    try:
        at, posting_id, fp = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        written = datetime.fromisoformat(at)
        when = written.astimezone(UTC) if written.tzinfo is not None else None
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise garbled from None
    if when is None or not isinstance(posting_id, str) or not ID_PATTERN.fullmatch(posting_id):
        raise garbled
    if fp != fingerprint:
        raise BadParam("after", "after belongs to a search with other filters; start again")
    return when, posting_id


async def latest(
    service: SearchService,
    filter: PostingFilter,
    *,
    first: int,
    after: str | None,
) -> tuple[LatestPage, dict[str, PostingView]]:
    """One page of the newest live postings matching ``filter`` and their postings."""
    canonical = filter.normalized()
    fingerprint = filter_fingerprint(canonical.cache_key())
    keyset = None if after is None else decode(after, fingerprint)

    async def load() -> LatestPage:
        rows = await service.repository.latest(canonical, limit=first + 1, before=keyset)
        page = rows[:first]
        end = encode(page[-1][1], page[-1][0], fingerprint) if page else None
        return LatestPage(tuple(pid for pid, _ in page), end, len(rows) > first)

    key = f"{canonical.cache_key()}\x1f{first}\x1f{after or ''}"
    result: LatestPage = await service.cache.get_or_load(
        "latest", key, load, _CODEC, generational=True
    )
    return result, await service.postings(list(result.ids))
