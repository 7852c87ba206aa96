"""Rate limits in front of every route: token buckets and in-flight caps per API key and per
client address.

A request with a valid API key (``authorization: Bearer``) is its key's client; any other
request, an invalid key included, its client address's. The address is the direct peer,
or the ``X-Forwarded-For`` client when the peer is in JOBSTREAM_TRUSTED_PROXIES.

- **Rate**: a request takes one token from its client's bucket
  (JOBSTREAM_API_RATE_LIMIT_PER_KEY / _PER_ADDRESS) before any handler runs. A GraphQL
  operation then pays for its cost: once :mod:`api.graphql.cost` knows it, and before any
  resolver runs, :meth:`RateLimiter.charge` takes ``cost / JOBSTREAM_QUERY_COST_PER_TOKEN``
  tokens in all from the same bucket (GitHub's and Shopify's cost-based limits), so a
  document returning 5,000 objects spends what 50 small searches do.
- **Concurrency**: a client may have JOBSTREAM_API_MAX_INFLIGHT_PER_KEY / _PER_ADDRESS
  requests in progress; one more is refused at once rather than queued (a queue would hold
  its connection and memory for a client already using its share, and a well-behaved
  client waits for its answers anyway). Without it, 32 connections of one client each
  running a costly operation keep the event loop from everyone else, whatever the rate.

Over either limit the answer is 429 with ``Retry-After`` -- a GraphQL error document with
code ``RATE_LIMITED`` and ``retryAfter`` on /graphql, plain text elsewhere -- sent after
the Retry-After (at most JOBSTREAM_API_REFUSAL_DELAY_S): a client that ignores it and
sends again at once would otherwise turn its refusals into a flood of their own (600 a
second from 32 connections took the whole event loop in tests/bench/bench_ratelimit.py),
while one that honours it loses nothing. A waiting refusal holds no slot and no token.
``/health`` and ``/metrics`` are exempt: load balancers and scrapers poll them, and both
are cheap (keep /metrics off the public port or behind the proxy). The buckets are
:mod:`schemas.ratelimit`'s, per process.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
CLIENT_STATE = "jobstream.client"
"""Where the middleware leaves the request's :class:`Client` in ``scope["state"]``."""
INFLIGHT_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """One kind of client's limits (keys' or addresses') and how to name them."""

    buckets: TokenBuckets | None
    rate_setting: str
    max_inflight: int
    inflight_setting: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Client:
    """Who a request counts against: ``id`` keys both its bucket and its in-flight count."""

    id: str
    label: str
    limits: Limits


class RateLimiter:
    """The app's buckets and in-flight counts; :meth:`middleware` puts them in front of
    the routes, :meth:`charge` bills a GraphQL operation's cost."""

    def __init__(self, settings: Settings) -> None:
        size = settings.rate_limit_max_clients
        per_address, per_key = settings.api_rate_limit_per_address, settings.api_rate_limit_per_key
        self.by_address = Limits(
            TokenBuckets(per_address, max_clients=size) if per_address else None,
            "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS",
            settings.api_max_inflight_per_address,
            "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS",
            "; an API key gets its own limit",
        )
        self.by_key = Limits(
            TokenBuckets(per_key, max_clients=size) if per_key else None,
            "JOBSTREAM_API_RATE_LIMIT_PER_KEY",
            settings.api_max_inflight_per_key,
            "JOBSTREAM_API_MAX_INFLIGHT_PER_KEY",
        )
        self.cost_per_token = settings.query_cost_per_token
        self.refusal_delay_s = settings.api_refusal_delay_s
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.keys: KeyRing | None = None  # set by the lifespan once the keys are open
        self.inflight: Counter[str] = Counter()  # only clients with requests in progress

    def client(self, scope: Scope) -> Client:
        """The request's client: its valid API key, else its address."""
        authorization = forwarded = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-forwarded-for":
                forwarded = value.decode("latin-1")
        if authorization is not None and self.keys is not None:
            principal = self.keys.identify(authorization)
            if principal is not None:
                return Client(f"key:{principal.key_id}", f"API key {principal.name!r}", self.by_key)
        peer = client[0] if (client := scope.get("client")) else "unknown"
        return Client(self.proxies.client(peer, forwarded), "your address", self.by_address)

    def take(self, client: Client, tokens: float, why: str = "") -> RateLimitedError | None:
        """Take ``tokens`` from the client's bucket: None, or the refusal with when to retry."""
        buckets = client.limits.buckets
        if buckets is None:
            return None
        wait = buckets.take(client.id, tokens)
        if not wait:
            return None
        return RateLimitedError(
            f"{client.label} is over its rate limit ({buckets.per_s:g}/s burst "
            f"{buckets.burst:g}, {client.limits.rate_setting}{why}{client.limits.hint}); "
            f"retry after {retry_after(wait)} s",
            retry_after_s=wait,
        )

    def check(self, scope: Scope) -> RateLimitedError | None:
        """The middleware's rate decision for one request: None when it may go on."""
        return self.take(self.client(scope), 1.0)

    def enter(self, client: Client) -> RateLimitedError | None:
        """Count a request in progress, or refuse it (nothing counted then)."""
        cap = client.limits.max_inflight
        if cap and self.inflight[client.id] >= cap:
            return RateLimitedError(
                f"{client.label} has {cap} requests in progress, its limit "
                f"({client.limits.inflight_setting}); wait for an answer before sending more",
                retry_after_s=INFLIGHT_RETRY_S,
            )
        self.inflight[client.id] += 1
        return None

    def leave(self, client: Client) -> None:
        left = self.inflight[client.id] - 1
        if left > 0:
            self.inflight[client.id] = left
        else:
            del self.inflight[client.id]

    def charge(self, scope: Scope, cost: int) -> RateLimitedError | None:
        """Bill a GraphQL operation of ``cost``: ``cost / JOBSTREAM_QUERY_COST_PER_TOKEN``
        tokens in all, the one the middleware took included (so a cheap operation costs
        exactly that one). None outside a limited request."""
        client: Client | None = scope.get("state", {}).get(CLIENT_STATE)
        if client is None:
            return None
        extra = cost / self.cost_per_token - 1.0
        if extra <= 0:
            return None
        return self.take(
            client,
            extra,
            f"; this operation's cost {cost:,} takes {extra + 1:.0f} tokens, one per "
            f"{self.cost_per_token} (JOBSTREAM_QUERY_COST_PER_TOKEN)",
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Litestar middleware: refuse over-limit HTTP requests before routing."""

        async def limited(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["path"] in EXEMPT:
                await app(scope, receive, send)
                return
            client = self.client(scope)
            refusal = self.take(client, 1.0) or self.enter(client)
            if refusal is not None:
                delay = min(float(retry_after(refusal.retry_after_s)), self.refusal_delay_s)
                if delay > 0:
                    await asyncio.sleep(delay)
                await _refuse(scope, send, refusal)
                return
            state: dict[str, Any] = scope.setdefault("state", {})
            state[CLIENT_STATE] = client
            try:
                await app(scope, receive, send)
            finally:
                self.leave(client)

        return limited


def client_id(scope: Scope, proxies: TrustedProxies) -> str:
    """Who a request (or WebSocket) counts against: the client the middleware identified
    (a key or an address), else -- a WebSocket, which the middleware leaves alone -- its
    address as the middleware would name it."""
    client: Client | None = scope.get("state", {}).get(CLIENT_STATE)
    if client is not None:
        return client.id
    forwarded = next(
        (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"),
        None,
    )
    peer = found[0] if (found := scope.get("client")) else "unknown"
    return proxies.client(peer, forwarded)


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
