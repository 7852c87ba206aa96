"""Saved searches as events: create, delete, unsubscribe; and reading their alerts.

Both surfaces (GraphQL in :mod:`api.graphql.alerts`, the web pages in
:mod:`api.web.alerts`) call :class:`AlertService`, so validation and secrets live once.
A change is a ``SavedSearch`` record on saved-searches.v1 (key = id), acknowledged by
Kafka (acks=all) before the call returns; the materialiser applies it to
``saved_searches``, so a new search is readable (and deletable) a moment later, not at
once. Secrets are capabilities: ``secrets.token_urlsafe(24)``, only their SHA-256 leaves
this process; the webhook signing secret is returned once and kept as is (the sender
signs with it).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote

from cachetools import TTLCache

from api.alerts import validate
from api.alerts.store import AlertRow, AlertStore, secret_hash
from api.events import EventWriter
from api.search import PostingView
from api.search.highlight import Highlight
from api.search.ranking import Ranking, SearchMode, match_floor
from api.service import SearchService
from schemas.errors import RateLimitedError
from schemas.saved_searches import EMAIL_SCHEDULES, SavedSearch, new_id, record_of
from schemas.search.filters import PostingFilter
from schemas.settings import Settings

CONTENT_TYPE_SAVED_SEARCH = "application/x-protobuf; messageType=jobstream.v1.SavedSearch"
HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class NewSavedSearch:
    """What a client asks for (GraphQL arguments or the web form), unchecked."""

    query: str | None
    filter: PostingFilter
    mode: SearchMode = SearchMode.HYBRID
    min_score: float | None = None
    webhook_url: str | None = None
    email: str | None = None
    email_schedule: str | None = None
    backfill_days: int | None = None


@dataclass(frozen=True, slots=True)
class ShownAlert:
    alert: AlertRow
    posting: PostingView | None
    highlights: tuple[Highlight, ...]


@dataclass(frozen=True, slots=True)
class Created:
    """The answer to a creation: the only time the secrets are shown."""

    row: SavedSearch
    secret: str
    webhook_signing_secret: str | None


class SaveQuota:
    """Creations per client in the last hour (``JOBSTREAM_ALERTS_MAX_SAVES_PER_HOUR``),
    per process like the rate limits; the least recent clients are forgotten."""

    def __init__(self, per_hour: int, max_clients: int) -> None:
        self.per_hour = per_hour
        self._times: TTLCache[str, deque[float]] = TTLCache(max_clients, HOUR_S)

    def take(self, client: str) -> None:
        if not self.per_hour:
            return
        now = time.monotonic()
        times = self._times.get(client) or deque()
        while times and times[0] <= now - HOUR_S:
            times.popleft()
        if len(times) >= self.per_hour:
            wait = times[0] + HOUR_S - now
            raise RateLimitedError(
                f"your address created {self.per_hour} saved searches in the last hour, "
                "its limit (JOBSTREAM_ALERTS_MAX_SAVES_PER_HOUR); retry in "
                f"{int(wait) + 1} s",
                retry_after_s=wait,
            )
        times.append(now)
        self._times[client] = times


class AlertService:
    def __init__(
        self,
        settings: Settings,
        search: SearchService,
        store: AlertStore,
        writer: EventWriter,
    ) -> None:
        self.settings = settings
        self.search = search
        self.store = store
        self.writer = writer
        self.quota = SaveQuota(settings.alerts_max_saves_per_hour, settings.rate_limit_max_clients)
        self.default_min_score = match_floor(settings.embedder, settings.semantic_match_floor)

    def check(self, new: NewSavedSearch) -> tuple[str, PostingFilter]:
        """The normalised query and canonical filter, or the first bad field."""
        query = "" if new.query is None or not new.query.strip() else new.query
        normalised = self.search.check_query(query) if query else ""
        canonical = new.filter.normalized()
        if not normalised and canonical.is_empty:
            raise validate.BadDelivery(
                "query", "give a query or a filter: a saved search needs at least one"
            )
        return normalised, canonical

    async def save(self, new: NewSavedSearch, client: str) -> Created:
        """Validate, embed the query, write the record, answer once Kafka acked it."""
        normalised, canonical = self.check(new)
        min_score = validate.min_score(new.min_score, self.default_min_score)
        backfill_days = validate.backfill_days(new.backfill_days)
        webhook_url = validate.webhook_url(new.webhook_url)
        email = validate.email(new.email)
        schedule = None
        if email is not None:
            schedule = new.email_schedule or "IMMEDIATE"
            if schedule not in EMAIL_SCHEDULES:
                raise validate.BadDelivery(
                    "delivery.emailSchedule", "emailSchedule must be IMMEDIATE or DAILY"
                )
        self.quota.take(client)  # only a valid request counts against the cap
        embedding = model = None
        if normalised and new.mode is not SearchMode.KEYWORD:
            vector = await self.search.embed(normalised)  # the "query: " side, cached
            embedding, model = vector.astype("<f4").tobytes(), self.search.embedder.name
        secret = secrets.token_urlsafe(24)
        signing = "whsec_" + secrets.token_urlsafe(24) if webhook_url else None
        row = SavedSearch(
            id=new_id(),
            secret_sha256=secret_hash(secret),
            query=normalised,
            filter=canonical,
            mode=new.mode.value,
            min_score=min_score,
            embedding=embedding,
            embedding_model=model,
            webhook_url=webhook_url,
            webhook_signing_secret=signing,
            email=email,
            email_schedule=schedule,
            unsubscribe_token=secrets.token_urlsafe(24) if email else None,
            backfill_days=backfill_days,
            created_at=datetime.now(UTC),
        )
        await self._write(row)
        return Created(row=row, secret=secret, webhook_signing_secret=signing)

    async def delete(self, saved_search_id: str, secret: str) -> SavedSearch:
        row = await self.store.authenticate(saved_search_id, secret)
        await self._write(row, deleted=True)
        return row

    async def unsubscribe(self, saved_search_id: str, token: str) -> SavedSearch:
        """Stop the email of a saved search (RFC 8058 one-click): the record again with
        no email; its other channels go on."""
        row = await self.store.by_token(saved_search_id, token)
        cleared = replace(row, email=None, email_schedule=None, unsubscribe_token=None)
        await self._write(cleared)
        return cleared

    async def _write(self, row: SavedSearch, *, deleted: bool = False) -> None:
        await self.writer.send(
            self.settings.topic_saved_searches,
            row.id,
            record_of(row, deleted=deleted).SerializeToString(),
            CONTENT_TYPE_SAVED_SEARCH,
        )

    async def shown(self, saved: SavedSearch, alerts: Sequence[AlertRow]) -> list[ShownAlert]:
        """Alerts with their postings (by id, through the cache; None once deleted) and
        highlights: the matcher's, else -- a backfilled alert has none -- the saved
        query's terms marked as search marks them, computed for the batch at once."""
        views = await self.search.postings([a.posting_id for a in alerts])
        marks = None
        if saved.query and any(not a.highlights for a in alerts):
            ranking = Ranking(SearchMode(saved.mode))
            live = [views[a.posting_id] for a in alerts if a.posting_id in views]
            marks = self.search.page_highlights(saved.query, ranking, live)
        out = []
        for alert in alerts:
            view = views.get(alert.posting_id)
            highlights = alert.highlights
            if not highlights and marks is not None and view is not None:
                highlights = await marks.of(view.id)
            out.append(ShownAlert(alert, view, highlights))
        return out

    def links(self, saved_search_id: str, secret: str) -> tuple[str, str]:
        """The page and feed URLs of a saved search, with its secret (capability links)."""
        base = f"{self.settings.public_url}/alerts/{saved_search_id}"
        q = "?secret=" + quote(secret, safe="")
        return base + q, base + ".atom" + q
