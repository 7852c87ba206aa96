"""Job alerts on the web: the "Alert me" form, a saved search's page and Atom feed, its
deletion, and the email's one-click unsubscribe (RFC 8058).

The secret (or the email's unsubscribe token) is in the URL: these links are
capabilities. A wrong one and an unknown id get the same 401 page; the pages send no
Referer on (``no-referrer``) and are never cached or indexed. Everything goes through
:class:`api.alerts.service.AlertService`, as GraphQL does; bad form input is a 400 page
naming the field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from api.alerts.service import AlertService, NewSavedSearch, ShownAlert
from api.alerts.store import WrongSecret
from api.alerts.validate import BadDelivery
from api.ratelimit import client_id
from api.web.atom import feed_xml
from api.web.i18n import N_, Text
from api.web.params import BadParam, in_url_terms, parse
from api.web.routes import error_page, language, page
from api.web.views import Card
from schemas.errors import BadInputError, RateLimitedError
from schemas.ratelimit import retry_after
from schemas.saved_searches import ID

FEED_SUFFIX = ".atom"
PAGE_ALERTS = 50
PRIVATE = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
FORM_FIELDS = {"delivery.email": "email", "delivery.webhookUrl": "webhook"}


def _alerts(state: State) -> AlertService:
    service: AlertService = state.resources.alerts
    return service


def _one(request: Request[Any, Any, Any], name: str) -> str:
    return str(request.query_params.get(name) or "")


def _cards(shown: list[ShownAlert], lang: Any) -> list[Card]:
    return [
        Card.of(s.posting, s.alert.score, lang, s.highlights)
        for s in shown
        if s.posting is not None
    ]


def _local(url: str) -> str:
    """A public URL as a link within this site (whatever host the visitor came in by)."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _urls(service: AlertService, saved_search_id: str, secret: str) -> dict[str, str]:
    """The page's and feed's public URLs (shown) and local links (followed)."""
    page_url, feed_url = service.links(saved_search_id, secret)
    return {
        "page_url": page_url,
        "feed_url": feed_url,
        "page_href": _local(page_url),
        "feed_href": _local(feed_url),
        "delete_url": f"/alerts/{saved_search_id}/delete",
    }


@get("/alerts/{key:str}", include_in_schema=False)
async def alert_page(request: Request[Any, Any, Any], state: State, key: FromPath[str]) -> Any:
    """``/alerts/{id}?secret=``: the saved search's alerts, newest first;
    ``/alerts/{id}.atom?secret=``: the same as an Atom feed."""
    service = _alerts(state)
    secret = _one(request, "secret")
    if key.endswith(FEED_SUFFIX):
        row = await service.store.authenticate(key.removesuffix(FEED_SUFFIX), secret)
        found, _ = await service.store.newest(row.id, PAGE_ALERTS, None)
        shown = await service.shown(row, found)
        body = feed_xml(service.settings.public_url, row, shown, *service.links(row.id, secret))
        return Response(
            body,
            media_type="application/atom+xml; charset=utf-8",
            headers=PRIVATE,
        )
    row = await service.store.authenticate(key, secret)
    found, _ = await service.store.newest(row.id, PAGE_ALERTS, None)
    shown = await service.shown(row, found)
    lang = language(request)
    context = {
        "query": row.query,
        "cards": _cards(shown, lang),
        "closed": [s.alert.posting_id for s in shown if s.posting is None],
        "secret": secret,
        **_urls(service, row.id, secret),
    }
    return _private(page(request, lang, "alerts.html", context))


def _private(template: Template) -> Template:
    template.headers.update(PRIVATE)
    return template


@post("/alerts", include_in_schema=False, status_code=303)
async def create_alert(request: Request[Any, Any, Any], state: State) -> Redirect | Template:
    """The search page's "Alert me" form: the search's own parameters plus an optional
    email and webhook; answers with a redirect to the page that shows the links once."""
    service = _alerts(state)
    form = await request.form()
    values = {k: [str(v) for v in form.getall(k)] for k in form}
    params = parse({k: v for k, v in values.items() if k not in ("email", "webhook", "after")})
    new = NewSavedSearch(
        query=params.q or None,
        filter=params.to_filter(),
        webhook_url=(values.get("webhook") or [""])[0] or None,
        email=(values.get("email") or [""])[0] or None,
    )
    try:
        created = await service.save(new, client_id(request.scope, state.resources.proxies))
    except RateLimitedError as exc:  # the per-hour cap: a 429 page saying when to retry
        said = language(request).gettext(
            N_("This address has created many alerts in the last hour. Please try again later.")
        )
        refused = error_page(request, 429, N_("Try again later"), said, detail=exc.message)
        refused.headers["retry-after"] = retry_after(exc.retry_after_s)
        return refused
    except BadDelivery as exc:
        raise BadParam(FORM_FIELDS.get(exc.field, exc.field), exc.message) from None
    except BadInputError as exc:
        if exc.field == "query" and not params.q:
            raise BadParam("q", Text("give a query or a filter to be alerted about")) from None
        raise in_url_terms(exc) from None
    target = f"/alerts/{created.row.id}/created?" + urlencode({"secret": created.secret})
    if params.lang:
        target += "&lang=" + quote(params.lang)
    return Redirect(target, status_code=303, headers=PRIVATE)


@get("/alerts/{saved_search_id:str}/created", include_in_schema=False)
async def alert_created(
    request: Request[Any, Any, Any], state: State, saved_search_id: FromPath[str]
) -> Template:
    """The links of a just-created saved search, with the warning to keep them (the
    search may not be materialised yet, so nothing is looked up: the page only repeats
    the link it was given)."""
    secret = _one(request, "secret")
    if not ID.fullmatch(saved_search_id) or not secret:
        raise WrongSecret()
    context = _urls(_alerts(state), saved_search_id, secret)
    return _private(page(request, language(request), "alert_created.html", context))


@post("/alerts/{saved_search_id:str}/delete", include_in_schema=False, status_code=200)
async def delete_alert(
    request: Request[Any, Any, Any], state: State, saved_search_id: FromPath[str]
) -> Template:
    form = await request.form()
    await _alerts(state).delete(saved_search_id, str(form.get("secret") or ""))
    return _private(page(request, language(request), "alert_done.html", {"done": "deleted"}))


@get("/alerts/{saved_search_id:str}/unsubscribe", include_in_schema=False)
async def unsubscribe_confirm(
    request: Request[Any, Any, Any], state: State, saved_search_id: FromPath[str]
) -> Template:
    """The email's link opened in a browser: a button, since a link scanner's GET must
    not unsubscribe anyone (RFC 8058)."""
    token = _one(request, "token")
    row = await _alerts(state).store.by_token(saved_search_id, token)
    action = f"/alerts/{row.id}/unsubscribe?" + urlencode({"token": token})
    context = {"action": action, "email": row.email}
    return _private(page(request, language(request), "alert_unsubscribe.html", context))


@post("/alerts/{saved_search_id:str}/unsubscribe", include_in_schema=False, status_code=200)
async def unsubscribe(
    request: Request[Any, Any, Any], state: State, saved_search_id: FromPath[str]
) -> Template:
    """One-click unsubscribe: the mail client's POST (body ``List-Unsubscribe=One-Click``)
    or the confirm button; the token is in the URL either way."""
    await _alerts(state).unsubscribe(saved_search_id, _one(request, "token"))
    return _private(page(request, language(request), "alert_done.html", {"done": "unsubscribed"}))


ALERT_ROUTES = [
    alert_page,
    create_alert,
    alert_created,
    delete_alert,
    unsubscribe_confirm,
    unsubscribe,
]
