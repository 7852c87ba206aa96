"""The web pages: ``/`` search, ``/postings/{id}`` detail, error pages, robots.txt, assets.

Every data access goes through the app's :class:`~api.service.SearchService` -- the same
service, caches and limits as the GraphQL resolvers -- so the pages and the API can never
disagree. (The one extra listing, newest-first without a query, is in :mod:`api.web.latest`
and caches the same way.) Errors never show a trace: handlers raise, and
:func:`jobstream_error_handler` turns each kind of :class:`~schemas.errors.JobStreamError`
into its page (bad parameters a 400 page naming the parameter, unknown postings a 404
page); anything else is a 500 page with a reference id that is also in the log.
Every page and error page is told in the request's language (:mod:`api.web.i18n`).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import structlog
from litestar import MediaType, Request, Response, get
from litestar.datastructures import Cookie, State
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath
from litestar.response import Template

from api.search import PostingView
from api.service import HYBRID, SearchService
from api.web.assets import Assets
from api.web.i18n import COOKIE, COOKIE_MAX_AGE, LANGUAGES, N_, PARAM, VARY, Lang, Text, choose
from api.web.i18n import switch_url as language_url
from api.web.latest import is_latest_cursor, latest
from api.web.params import BadParam, SearchParams, in_url_terms, parse
from api.web.suggest import did_you_mean, skill_links
from api.web.views import (
    ENGLISH_LABELS,
    REMOTE_LABELS,
    TYPE_LABELS,
    Card,
    Detail,
    FilterOptions,
    label,
)
from schemas.domain.limits import ID_PATTERN
from schemas.errors import (
    BAD_USER_INPUT,
    FORBIDDEN,
    NOT_FOUND,
    UNAUTHENTICATED,
    UNAVAILABLE,
    BadInputError,
    JobStreamError,
    NotFoundError,
)

log = structlog.get_logger("api.web")

PAGE_SIZE = 20
SIMILAR = 6
HTML_CACHE = "no-cache"  # always revalidate: results change as postings land

ROBOTS = """User-agent: *
Allow: /
Disallow: /graphql
Disallow: /metrics
Disallow: /health
Disallow: /web/
"""


@dataclass(frozen=True, slots=True)
class Chip:
    label: str
    url: str


def _service(state: State) -> SearchService:
    service: SearchService = state.resources.service
    return service


def _assets(state: State) -> Assets:
    assets: Assets = state.web_assets
    return assets


@dataclass(frozen=True, slots=True)
class Switch:
    """A link of the language switch: this page in another language."""

    code: str
    name: str
    url: str


def language(request: Request[Any, Any, Any]) -> Lang:
    """The request's language: ``?lang=``, else the ``lang`` cookie, else Accept-Language."""
    return choose(
        request.query_params.getall(PARAM, []),
        request.cookies.get(COOKIE),
        request.headers.get("accept-language"),
    )


def page(
    request: Request[Any, Any, Any],
    lang: Lang,
    name: str,
    context: dict[str, Any],
    status: int = 200,
) -> Template:
    """A rendered template in ``lang`` with the asset URLs and the language switch,
    no-cache (pages follow the data); a language chosen in the URL is remembered in a cookie."""
    query = [(k, v) for k in request.query_params for v in request.query_params.getall(k)]
    switch = [
        Switch(code, LANGUAGES[code], language_url(request.url.path, query, code))
        for code in lang.others
    ]
    cookies = (
        [Cookie(key=COOKIE, value=lang.code, path="/", max_age=COOKIE_MAX_AGE, samesite="lax")]
        if lang.explicit and request.cookies.get(COOKIE) != lang.code
        else []
    )
    return Template(
        template_name=name,
        context={
            "assets": _assets(request.app.state).urls,
            "lang": lang,
            "switch": switch,
            "home_url": lang.link("/"),
            **context,
        },
        status_code=status,
        media_type=MediaType.HTML,
        headers={"cache-control": HTML_CACHE, "content-language": lang.code, "vary": VARY},
        cookies=cookies,
    )


def error_page(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    message: str,
    *,
    param: str | None = None,
    back: str | None = None,
    reference: str | None = None,
    detail: str | None = None,
) -> Template:
    """An error page in the request's language; ``title`` is a catalog msgid, ``message``
    already in the page's language, ``detail`` an English-only explanation shown beside it."""
    lang = language(request)
    context = {
        "title": lang.gettext(title),
        "message": message,
        "param": param,
        "back": lang.link(back) if back else None,
        "reference": reference,
        "detail": detail,
    }
    return page(request, lang, "error.html", context, status)


def _chips(p: SearchParams, lang: Lang) -> list[Chip]:
    chips: list[Chip] = []
    if p.exp_min is not None:
        chips.append(Chip(lang.gettext("From %(n)s years", n=p.exp_min), p.without("exp_min")))
    if p.exp_max is not None:
        chips.append(Chip(lang.gettext("Up to %(n)s years", n=p.exp_max), p.without("exp_max")))
    for attr, labels, shown in (
        ("english", ENGLISH_LABELS, N_("English: %(level)s")),
        ("remote", REMOTE_LABELS, "%(level)s"),
        ("types", TYPE_LABELS, "%(level)s"),
    ):
        for value in getattr(p, attr):
            text = lang.gettext(shown, level=label(labels, value, lang))
            chips.append(Chip(text, p.without(attr, value)))
    if p.country:
        chips.append(Chip(lang.gettext("Country: %(code)s", code=p.country), p.without("country")))
    if p.city:
        chips.append(Chip(lang.gettext("City: %(city)s", city=p.city), p.without("city")))
    for skill in p.skills:
        chips.append(
            Chip(lang.gettext("Skill: %(skill)s", skill=skill), p.without("skills", skill))
        )
    return chips


def _query_dict(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    return {key: request.query_params.getall(key) for key in request.query_params}


async def _results(
    state: State, p: SearchParams, lang: Lang
) -> tuple[list[Card], str | None, bool]:
    """The page's cards, the next page's cursor and whether there is one."""
    service = _service(state)
    posting_filter = p.to_filter()
    if p.q:
        if is_latest_cursor(p.after):
            raise BadParam("after", Text("this page link belongs to a search without a query"))
        search_page, postings = await service.search(p.q, posting_filter, PAGE_SIZE, p.after)
        shown = [postings[h.posting_id] for h in search_page.hits if h.posting_id in postings]
        marks = service.page_highlights(p.q, HYBRID, shown)  # the terms marked, or a sentence
        cards = [
            Card.of(view, hit.score, lang, await marks.of(view.id))
            for hit, view in zip(
                (h for h in search_page.hits if h.posting_id in postings), shown, strict=True
            )
        ]
        cursors = service.edge_cursors(p.after, search_page)
        end = cursors[-1] if cursors else None
        return cards, end, search_page.has_next_page
    if p.after is not None and not is_latest_cursor(p.after):
        raise BadParam("after", Text("this page link belongs to a search with a query"))
    latest_page, found = await latest(service, posting_filter, first=PAGE_SIZE, after=p.after)
    views: list[PostingView] = [found[i] for i in latest_page.ids if i in found]
    return [Card.of(v, lang=lang) for v in views], latest_page.end_cursor, latest_page.has_next_page


@get("/", include_in_schema=False)
async def search_page(request: Request[Any, Any, Any], state: State) -> Template:
    """The search page: query, filters, result count, one page of results."""
    service = _service(state)
    lang = language(request)
    p = parse(_query_dict(request), raw_length=len(request.scope.get("query_string", b"")))
    posting_filter = p.to_filter()
    count, facets, (cards, end, has_next), suggestions = await asyncio.gather(
        service.count(posting_filter, p.q or None),  # the query's matches, not the table
        service.facets(p.q or None, posting_filter),
        _results(state, p, lang),
        service.suggestions(p.q, posting_filter),
    )
    poll_query = urlencode([pair for pair in p.pairs() if pair[0] not in ("q", PARAM)])
    context = {
        "p": p,
        "error": None,
        "count": count,
        "cards": cards,
        "options": FilterOptions.of(facets, p.english, p.remote, p.types, lang),
        "chips": _chips(p, lang),
        "did_you_mean": did_you_mean(p, suggestions),
        "skill_links": skill_links(p, facets.skills),
        "next_url": p.url(after=end) if has_next and end else None,
        "first_url": p.url(),
        "clear_url": SearchParams(q=p.q, lang=p.lang).url(),
        "poll_url": "/web/count" + ("?" + poll_query if poll_query else ""),
        "alert_fields": [pair for pair in p.pairs() if pair[0] != "after"],  # api.web.alerts
    }
    return page(request, lang, "search.html", context)


@get("/web/count", include_in_schema=False)
async def count_json(request: Request[Any, Any, Any], state: State) -> Response[dict[str, Any]]:
    """How many postings match the filters now (the page's "new postings" poll)."""
    p = parse(_query_dict(request), raw_length=len(request.scope.get("query_string", b"")))
    count = await _service(state).count(p.to_filter())
    return Response(
        {"count": count}, media_type=MediaType.JSON, headers={"cache-control": "no-store"}
    )


@get("/postings/{posting_id:str}", include_in_schema=False)
async def posting_page(
    request: Request[Any, Any, Any], state: State, posting_id: FromPath[str]
) -> Template:
    """One posting in full, and the postings nearest to it, each linking on."""
    service = _service(state)
    lang = language(request)
    if not ID_PATTERN.fullmatch(posting_id):  # cannot exist: a 404, as for any other
        raise PageNotFound(Text("There is no posting with that id."))
    try:
        view, similar = await asyncio.gather(
            service.posting(posting_id), service.similar(posting_id, SIMILAR)
        )
    except NotFoundError:  # told in the page's words: the visitor followed a link
        raise PageNotFound(
            Text(
                "There is no posting %(id)r: it may have been filled and removed.",
                {"id": posting_id},
            )
        ) from None
    context = {
        "d": Detail.of(view, lang),
        "similar": [Card.of(v, h.score, lang) for h, v in similar],
    }
    return page(request, lang, "posting.html", context)


class PageNotFound(NotFoundError):
    """A 404 the pages raise themselves, with its message in the catalog."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


@get("/robots.txt", include_in_schema=False)
async def robots() -> Response[str]:
    return Response(
        ROBOTS, media_type=MediaType.TEXT, headers={"cache-control": "public, max-age=86400"}
    )


@get("/static/{name:str}", include_in_schema=False)
async def static_file(
    request: Request[Any, Any, Any], state: State, name: FromPath[str]
) -> Response[bytes]:
    """A static asset; hashed names are immutable, plain names revalidate by ETag."""
    found = _assets(state).find(name)
    if found is None:
        raise NotFoundException(f"no static file {name!r}")
    asset, cache_control = found
    headers = {"cache-control": cache_control, "etag": asset.etag}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@get("/favicon.ico", include_in_schema=False)
async def favicon(state: State) -> Response[bytes]:
    """Browsers ask for /favicon.ico whatever the page says: the SVG icon."""
    found = _assets(state).find("icon.svg")
    assert found is not None
    asset, cache_control = found
    return Response(
        asset.body, media_type=asset.media_type, headers={"cache-control": cache_control}
    )


def wants_html(request: Request[Any, Any, Any]) -> bool:
    """Browsers (and the web pages' paths) get HTML errors; API clients keep JSON."""
    path = request.url.path
    if path.startswith(("/graphql", "/health", "/metrics", "/web/")):
        return False
    return (
        "text/html" in request.headers.get("accept", "")
        or path == "/"
        or (path.startswith("/postings/"))
    )


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """404/405/... as an HTML page for browsers; Litestar's JSON shape for everyone else."""
    status = exc.status_code
    if not wants_html(request):
        return Response(
            {"status_code": status, "detail": exc.detail},
            status_code=status,
            media_type=MediaType.JSON,
        )
    lang = language(request)
    if status == 404:
        message = lang.gettext("There is nothing at this address.")
        return error_page(request, 404, N_("Page not found"), message)
    if lang.code == "en":
        return error_page(request, status, N_("Request not possible"), str(exc.detail))
    message = lang.gettext("This address does not answer that kind of request.")
    return error_page(request, status, N_("Request not possible"), message, detail=str(exc.detail))


_PAGES = {  # kind -> status, page title, what the page says when the error has no own text
    BAD_USER_INPUT: (
        400,
        N_("That search cannot be run"),
        N_("A value in the address is not usable."),
    ),
    NOT_FOUND: (404, N_("Page not found"), N_("There is nothing at this address.")),
    UNAUTHENTICATED: (401, N_("Sign-in needed"), N_("This page needs a sign-in.")),
    FORBIDDEN: (403, N_("Not allowed"), N_("This page is not open to you.")),
    UNAVAILABLE: (
        503,
        N_("Try again in a moment"),
        N_("The service is busy right now. Please try again in a moment."),
    ),
}
_FAILED = (500, N_("Request not possible"), N_("The request could not be answered."))


def jobstream_error_handler(request: Request[Any, Any, Any], exc: JobStreamError) -> Response[Any]:
    """Each kind of known error, once: a 400/404/401/503 page for browsers, JSON otherwise.

    Bad input names the URL parameter and links to the same search without it.
    """
    status, title, fallback = _PAGES.get(exc.code, _FAILED)
    message, param, back, text = exc.message, None, None, getattr(exc, "text", None)
    if isinstance(exc, BadInputError):
        bad = in_url_terms(exc)
        message, param, text = bad.message, bad.param, bad.text
        query = _query_dict(request)
        drop = {param, "after"} if param != "query string" else set(query)
        kept = [(k, v) for k, values in query.items() if k not in drop for v in values]
        back = "/?" + urlencode(kept) if kept else "/"
    if not wants_html(request):
        return Response(
            {"error": message, "param": param}, status_code=status, media_type=MediaType.JSON
        )
    lang, detail = language(request), None
    if isinstance(text, Text):
        message = lang.text(text)
    elif lang.code != "en":  # a message from shared code, in English: the kind's, plus it
        message, detail = lang.gettext(fallback), message
    return error_page(request, status, title, message, param=param, back=back, detail=detail)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any unexpected failure in a page: a 500 page with a reference, the trace in the log."""
    reference = uuid.uuid4().hex[:12]
    log.error("web page failed", path=request.url.path, reference=reference, exc_info=exc)
    if not wants_html(request):
        return Response(
            {"status_code": 500, "detail": "Internal Server Error", "reference": reference},
            status_code=500,
            media_type=MediaType.JSON,
        )
    return error_page(
        request,
        500,
        N_("Something went wrong"),
        language(request).gettext("The page could not be built. Please try again in a moment."),
        reference=reference,
    )


ROUTES = [search_page, posting_page, count_json, robots, static_file, favicon]
