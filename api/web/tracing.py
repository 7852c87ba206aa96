"""A span per web page request, named by its route (``GET /postings/{posting_id}``),
continuing the browser's or proxy's ``traceparent`` (:mod:`schemas.tracing`).

Not OpenTelemetry's ASGI instrumentation: that one adds a span per ``receive`` and
``send`` and reads every header into attributes on every request, recording or not; a
page is one span here, and with neither an SDK nor a caller's trace (the common case) the
request runs untouched. GraphQL requests have their own span per operation
(:mod:`api.graphql.tracing`), so this wraps the web router only.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from schemas.errors import JobStreamError
from schemas.tracing import extract, tracer

TRACE_SCOPE = "jobstream.web"


class PageSpan:
    """ASGI middleware of the web router: routing is done, so the template is known."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        parent = extract((k.decode("latin-1"), v) for k, v in scope["headers"])
        method = scope.get("method", "GET")
        route = scope.get("path_template") or "page"
        span = tracer(TRACE_SCOPE).start_span(
            f"{method} {route}", context=parent, kind=SpanKind.SERVER
        )
        if not span.is_recording() and not span.get_span_context().is_valid:
            await self.app(scope, receive, send)  # nothing records and nothing to carry
            return

        async def traced_send(message: Message) -> None:
            if message["type"] == "http.response.start" and span.is_recording():
                status = int(message["status"])
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(StatusCode.ERROR)
            await send(message)

        # The router's exception handlers run outside this middleware: a page's known error
        # (a bad parameter, an unknown posting) passes through here as an exception that
        # becomes a 400 or 404 page, not a failed request.
        with trace.use_span(span, end_on_exit=True, set_status_on_exception=False):
            if span.is_recording():
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
            try:
                await self.app(scope, receive, traced_send)
            except Exception as exc:
                span.set_attribute("error.type", type(exc).__name__)
                if not isinstance(exc, JobStreamError | HTTPException) or (
                    isinstance(exc, HTTPException) and exc.status_code >= 500
                ):
                    span.set_status(StatusCode.ERROR, str(exc)[:200])
                raise
