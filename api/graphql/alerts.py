"""Job alerts in GraphQL: saveSearch / deleteSavedSearch, savedSearch / alerts, and the
``alerts`` subscription (graphql-transport-ws).

No API key is needed: a saved search's secret is its capability. A wrong secret and an
unknown id get the same UNAUTHENTICATED error. The resolvers map onto
:class:`api.alerts.service.AlertService`; the root types pick the fields up from here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from api.alerts.service import AlertService, NewSavedSearch, ShownAlert
from api.alerts.store import parse_cursor
from api.graphql.context import ContextInfo
from api.graphql.inputs import PostingFilterInput, to_filter
from api.graphql.types import Highlight, HighlightRange, Long, PageInfo, Posting
from api.search.ranking import SearchMode
from schemas import saved_searches
from schemas.errors import UnavailableError

DEFAULT_FIRST = 20
SUBSCRIPTION_BATCH = 100


@strawberry.enum(description="When alert emails go out.")
class EmailSchedule(Enum):
    IMMEDIATE = "IMMEDIATE"
    DAILY = "DAILY"


@strawberry.input(description="Where alerts go besides the subscription, the feed and the page.")
class DeliveryInput:
    webhook_url: str | None = strawberry.field(
        default=None,
        description="https:// (or http:// to a loopback address); each alert is POSTed "
        "there, signed (X-JobStream-Signature) with the webhookSigningSecret.",
    )
    email: str | None = None
    email_schedule: EmailSchedule | None = strawberry.field(
        default=None, description="IMMEDIATE (default with an email) or a DAILY digest."
    )


@strawberry.type(name="SavedSearchDelivery")
class Delivery:
    webhook_url: str | None
    email: str | None
    email_schedule: EmailSchedule | None


@strawberry.type(description="A saved search: its alerts are the postings that match it.")
class SavedSearch:
    id: strawberry.ID
    query: str = strawberry.field(description="Normalised query text; empty: filters only.")
    filter: JSON = strawberry.field(description="The canonical filter (PostingFilter fields).")
    mode: SearchMode
    min_score: float = strawberry.field(description="Cosine floor of the semantic match.")
    delivery: Delivery
    backfill_days: int
    created_at: datetime

    @classmethod
    def of(cls, row: saved_searches.SavedSearch) -> SavedSearch:
        schedule = EmailSchedule(row.email_schedule) if row.email_schedule else None
        return cls(
            id=strawberry.ID(row.id),
            query=row.query,
            filter=cast(JSON, row.filter.to_dict()),
            mode=SearchMode(row.mode),
            min_score=row.min_score,
            delivery=Delivery(
                webhook_url=row.webhook_url, email=row.email, email_schedule=schedule
            ),
            backfill_days=row.backfill_days,
            created_at=row.created_at,
        )


@strawberry.type(description="A new saved search. Keep the secrets: they are shown only once.")
class SavedSearchCreated:
    id: strawberry.ID
    secret: str = strawberry.field(
        description="Grants access to the saved search (alerts, feed, page, delete)."
    )
    webhook_signing_secret: str | None = strawberry.field(
        description="HMAC-SHA256 key of the webhook signatures (with a webhook URL)."
    )
    page_url: str
    feed_url: str
    saved_search: SavedSearch


@strawberry.type(description="A posting that matched a saved search, once.")
class Alert:
    id: strawberry.ID = strawberry.field(description="savedSearchId/postingId.")
    cursor: str = strawberry.field(
        description="Resume after this alert (its place in the order alerts were published)."
    )
    posting_id: strawberry.ID
    posting: Posting | None = strawberry.field(description="Null once the posting is deleted.")
    version: Long = strawberry.field(description="The posting version that matched.")
    score: float
    highlights: list[Highlight]
    backfill: bool = strawberry.field(description="Found among older postings when saved.")
    closed: bool = strawberry.field(description="The posting was deleted after it alerted.")
    matched_at: datetime
    committed_at: datetime

    @classmethod
    def of(cls, shown: ShownAlert) -> Alert:
        a = shown.alert
        return cls(
            id=strawberry.ID(f"{a.saved_search_id}/{a.posting_id}"),
            cursor=a.cursor,
            posting_id=strawberry.ID(a.posting_id),
            posting=None if shown.posting is None else Posting.from_view(shown.posting),
            version=Long(a.version),
            score=a.score,
            highlights=[
                Highlight(
                    field=h.field,
                    kind=h.kind,
                    text=h.text,
                    ranges=[HighlightRange(start=s, length=n) for s, n in h.ranges],
                )
                for h in shown.highlights
            ],
            backfill=a.backfill,
            closed=a.closed or shown.posting is None,
            matched_at=a.matched_at,
            committed_at=a.committed_at,
        )


@strawberry.type
class AlertEdge:
    cursor: str
    node: Alert


@strawberry.type(description="A saved search's alerts, newest first.")
class AlertConnection:
    edges: list[AlertEdge]
    page_info: PageInfo


def _service(info: ContextInfo) -> AlertService:
    service = info.context.alerts
    if service is None:
        raise UnavailableError("alerts are not served by this process")
    return service


async def save_search(
    info: ContextInfo,
    query: Annotated[
        str | None, strawberry.argument(description="What to look for (as in search).")
    ] = None,
    filter: PostingFilterInput | None = None,
    mode: SearchMode = SearchMode.HYBRID,
    min_score: Annotated[
        float | None,
        strawberry.argument(description="0-1; default: JOBSTREAM_SEMANTIC_MATCH_FLOOR."),
    ] = None,
    delivery: DeliveryInput | None = None,
    backfill_days: Annotated[
        int | None,
        strawberry.argument(description="Also alert on matches posted in the last 0-30 days."),
    ] = None,
) -> SavedSearchCreated:
    service = _service(info)
    new = NewSavedSearch(
        query=query,
        filter=to_filter(filter),
        mode=mode,
        min_score=min_score,
        webhook_url=delivery.webhook_url if delivery else None,
        email=delivery.email if delivery else None,
        email_schedule=delivery.email_schedule.value
        if delivery and delivery.email_schedule
        else None,
        backfill_days=backfill_days,
    )
    created = await service.save(new, info.context.client)
    page_url, feed_url = service.links(created.row.id, created.secret)
    return SavedSearchCreated(
        id=strawberry.ID(created.row.id),
        secret=created.secret,
        webhook_signing_secret=created.webhook_signing_secret,
        page_url=page_url,
        feed_url=feed_url,
        saved_search=SavedSearch.of(created.row),
    )


async def delete_saved_search(info: ContextInfo, id: strawberry.ID, secret: str) -> bool:
    await _service(info).delete(str(id), secret)
    return True


async def saved_search(info: ContextInfo, id: strawberry.ID, secret: str) -> SavedSearch:
    return SavedSearch.of(await _service(info).store.authenticate(str(id), secret))


async def _alerts(
    service: AlertService, row: saved_searches.SavedSearch, rows: Sequence[Any]
) -> list[Alert]:
    return [Alert.of(shown) for shown in await service.shown(row, rows)]


async def alerts(
    info: ContextInfo,
    saved_search_id: strawberry.ID,
    secret: str,
    first: Annotated[
        int | None, strawberry.argument(description="Page size (max JOBSTREAM_MAX_PAGE_SIZE).")
    ] = DEFAULT_FIRST,
    after: Annotated[
        str | None,
        strawberry.argument(description="The cursor of the last alert of the previous page."),
    ] = None,
) -> AlertConnection:
    service = _service(info)
    size = service.search.check_first(DEFAULT_FIRST if first is None else first)
    before = parse_cursor(after)
    row = await service.store.authenticate(str(saved_search_id), secret)
    found, more = await service.store.newest(row.id, size, before)
    nodes = await _alerts(service, row, found)
    return AlertConnection(
        edges=[AlertEdge(cursor=n.cursor, node=n) for n in nodes],
        page_info=PageInfo(has_next_page=more, end_cursor=nodes[-1].cursor if nodes else None),
    )


async def alert_stream(
    info: ContextInfo,
    saved_search_id: strawberry.ID,
    secret: str,
    after: Annotated[
        str | None,
        strawberry.argument(
            description="The cursor of the last alert this client saw: the alerts after it "
            "come first, then each new one as it lands (no gap, no repeat)."
        ),
    ] = None,
) -> AsyncGenerator[Alert, None]:
    service = _service(info)
    watch = info.context.watch
    if watch is None:
        raise UnavailableError("alert subscriptions are not served by this process")
    cursor = parse_cursor(after) or 0
    row = await service.store.authenticate(str(saved_search_id), secret)
    async with watch.slot(info.context.client):
        checked = time.monotonic()
        while True:
            seen = watch.top
            found = await service.store.since(row.id, cursor, SUBSCRIPTION_BATCH)
            for alert in await _alerts(service, row, found):
                yield alert
                cursor = int(alert.cursor)
            if len(found) < SUBSCRIPTION_BATCH:
                await watch.wait_beyond(max(seen, cursor))
            if time.monotonic() - checked >= watch.recheck_s:
                if await service.store.saved(row.id) is None:
                    return  # deleted: the subscription completes
                checked = time.monotonic()


SAVE_SEARCH = strawberry.mutation(
    resolver=save_search,
    description="Save a search for alerts (no API key: the returned secret grants access). "
    "The same checks as search; at most JOBSTREAM_ALERTS_MAX_SAVES_PER_HOUR per address.",
)
DELETE_SAVED_SEARCH = strawberry.mutation(
    resolver=delete_saved_search,
    description="Delete a saved search; UNAUTHENTICATED for a wrong secret or unknown id.",
)
SAVED_SEARCH = strawberry.field(
    resolver=saved_search, description="A saved search, given its secret."
)
ALERTS = strawberry.field(
    resolver=alerts, description="A saved search's alerts, newest first, given its secret."
)
ALERT_STREAM = strawberry.subscription(
    resolver=alert_stream,
    description="A saved search's alerts as they land (graphql-transport-ws), resuming "
    "after the cursor given; completes once the saved search is deleted.",
)
