"""Rate limits in front of every route: token buckets per API key and per client address.

A request with a valid API key (``authorization: Bearer``) draws on its key's bucket
(JOBSTREAM_API_RATE_LIMIT_PER_KEY); any other request, an invalid key included, on its
client address's (JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS). The address is the direct peer,
or the ``X-Forwarded-For`` client when the peer is in JOBSTREAM_TRUSTED_PROXIES. Over the
limit the answer is 429 with ``Retry-After`` -- a GraphQL error document with code
``RATE_LIMITED`` on /graphql, plain text elsewhere -- before any handler runs.

``/health`` and ``/metrics`` are exempt: load balancers and scrapers poll them, and
both are cheap (keep /metrics off the public port or behind the proxy). The buckets
are :mod:`schemas.ratelimit`'s, per process.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from api.graphql.http import error_document
from schemas.errors import RATE_LIMITED, RateLimitedError
from schemas.ratelimit import TokenBuckets, TrustedProxies, retry_after
from schemas.settings import Settings

if TYPE_CHECKING:
    from schemas.auth import KeyRing

EXEMPT = frozenset({"/health", "/metrics"})


class RateLimiter:
    """The app's buckets; :meth:`middleware` puts them in front of the routes."""

    def __init__(self, settings: Settings) -> None:
        per_address, per_key = settings.api_rate_limit_per_address, settings.api_rate_limit_per_key
        size = settings.rate_limit_max_clients
        self.per_address = TokenBuckets(per_address, max_clients=size) if per_address else None
        self.per_key = TokenBuckets(per_key, max_clients=size) if per_key else None
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.keys: KeyRing | None = None  # set by the lifespan once the keys are open

    def check(self, scope: Scope) -> RateLimitedError | None:
        """None when the request may go on, else why not (with when to retry)."""
        authorization = forwarded = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        if authorization is not None and self.keys is not None:
            principal = self.keys.identify(authorization)
            if principal is not None:
                if self.per_key is None:
                    return None
                wait = self.per_key.take(principal.key_id)
                if not wait:
                    return None
                return RateLimitedError(
                    f"API key {principal.name!r} is over its rate limit "
                    f"({_rate(self.per_key)}, JOBSTREAM_API_RATE_LIMIT_PER_KEY); "
                    f"retry after {retry_after(wait)} s",
                    retry_after_s=wait,
                )
        if self.per_address is None:
            return None
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        wait = self.per_address.take(self.proxies.client(peer, forwarded))
        if not wait:
            return None
        return RateLimitedError(
            f"too many requests from your address ({_rate(self.per_address)}, "
            "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS; an API key gets its own limit); "
            f"retry after {retry_after(wait)} s",
            retry_after_s=wait,
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Litestar middleware: refuse over-limit HTTP requests before routing."""

        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == ScopeType.HTTP and scope["path"] not in EXEMPT:
                refusal = self.check(scope)
                if refusal is not None:
                    await _refuse(scope, send, refusal)
                    return
            await app(scope, receive, send)

        return limited


def _rate(buckets: TokenBuckets) -> str:
    return f"{buckets.per_s:g}/s burst {buckets.burst:g}"


async def _refuse(scope: Scope, send: Send, error: RateLimitedError) -> None:
    """429 + Retry-After; a GraphQL error document on /graphql."""
    seconds = retry_after(error.retry_after_s)
    if scope["path"].startswith("/graphql"):
        document = error_document(error.message, RATE_LIMITED, retryAfter=int(seconds))
        body = json.dumps(document).encode()
        media = b"application/json"
    else:
        body, media = error.message.encode() + b"\n", b"text/plain; charset=utf-8"
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 429,
        "headers": [
            (b"content-type", media),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", seconds.encode()),
            (b"cache-control", b"no-store"),
        ],
    }
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)
