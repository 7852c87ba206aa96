"""The Litestar app, built from explicit parts: ``create_app(settings)``.

Everything a request needs is opened by the lifespan and kept on ``app.state`` -- the
asyncpg pool (pgvector codec registered), the Redis client, the TieredCache and its
InvalidationListener, the Kafka producer for mutations, the API keys (a
:class:`~schemas.auth.KeyRing` that mutations check), the embedder, the search
service and the metrics -- so two apps in one process share nothing (the tests rely on
it) and nothing happens at import time.

Routes: ``/graphql`` (GraphiQL in a browser), ``/health``, ``/metrics``, and the web UI
(``/``, ``/postings/{id}``, ``/robots.txt``, ``/static/…``; see :mod:`api.web`). Every
route but ``/health`` and ``/metrics`` is rate limited per API key or client address
(:mod:`api.ratelimit`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog
from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Scope
from pgvector.asyncpg import register_vector
from redis.asyncio import Redis

from api.alerts.service import AlertService
from api.alerts.store import AlertStore
from api.alerts.watch import AlertWatch
from api.cache import InvalidationListener, TieredCache
from api.cache.outbox import OutboxWatch
from api.cache.stats import Freshness
from api.database import open_pool
from api.disconnect import CancelOnDisconnect
from api.events import EventWriter
from api.graphql.context import Context
from api.graphql.errors import BAD_USER_INPUT
from api.graphql.http import error_document, graphql_controller
from api.graphql.schema import build_schema
from api.health import EmbeddingCensus, health_report
from api.metrics import ApiMetrics
from api.ratelimit import RateLimiter, client_id
from api.search import PostingRepository
from api.search.ranking import match_floor
from api.service import SearchService
from api.web import HTTP_ERROR_HANDLERS, Assets, compression_config, template_config, web_router
from api.web.headers import security_headers
from schemas.auth import KeyRing
from schemas.embedding import Embedder, make_embedder
from schemas.ratelimit import TrustedProxies
from schemas.search import synonyms
from schemas.settings import Settings

log = structlog.get_logger("api.app")

REDIS_TIMEOUT_S = 1.0


@dataclass
class Resources:
    """What the lifespan opened; closed in reverse order when the app stops."""

    settings: Settings
    pool: asyncpg.Pool
    redis: Redis
    cache: TieredCache
    listener: InvalidationListener
    writer: EventWriter
    keys: KeyRing
    embedder: Embedder
    service: SearchService
    metrics: ApiMetrics
    census: EmbeddingCensus
    alerts: AlertService
    watch: AlertWatch
    proxies: TrustedProxies

    def context(self, client: str = "unknown") -> Context:
        return Context(
            settings=self.settings,
            service=self.service,
            cache=self.cache,
            writer=self.writer,
            keys=self.keys,
            embedder=self.embedder,
            metrics=self.metrics,
            alerts=self.alerts,
            watch=self.watch,
            client=client,
        )


async def _init_connection(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Open every dependency. The pool connects lazily (min_size=0) and the producer
    retries on first use, so the API starts -- and /health reports -- while PostgreSQL
    or Kafka are down."""
    async with AsyncExitStack() as stack:
        pool = await open_pool(settings, init=_init_connection)
        stack.push_async_callback(pool.close)
        redis = Redis.from_url(
            settings.redis_dsn,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        stack.push_async_callback(redis.aclose)
        metrics = ApiMetrics()
        cache = TieredCache(settings, redis, registry=metrics.registry)
        stack.push_async_callback(cache.aclose)
        freshness = Freshness(metrics.freshness)  # one per instance: each event counts once
        listener = InvalidationListener(settings, cache, freshness=freshness)
        await listener.start()
        stack.push_async_callback(listener.stop)
        outbox = OutboxWatch(
            pool,
            cache,
            every_s=settings.api_outbox_watch_s,
            late_s=settings.api_outbox_late_s,
            freshness=freshness,
        )
        outbox.start()
        stack.push_async_callback(outbox.aclose)
        writer = EventWriter(settings)
        await writer.start()
        stack.push_async_callback(writer.stop)
        keys = KeyRing(settings, "api", timeout_s=10.0)
        await keys.start(required=False)  # reads go on while Kafka is down
        stack.push_async_callback(keys.stop)
        embedder = make_embedder(settings.embedder, settings.embedding_dim)
        await asyncio.to_thread(embedder.embed, ["warm up"])  # load weights before traffic
        repository = PostingRepository(
            pool,
            dim=settings.embedding_dim,
            window=settings.search_window,
            count_window=settings.search_count_window,
            match_floor=match_floor(settings.embedder, settings.semantic_match_floor),
        )
        census = EmbeddingCensus(pool)
        stack.push_async_callback(census.aclose)
        service = SearchService(settings, repository, cache, embedder)
        watch = AlertWatch(
            pool,
            interval_s=settings.alerts_poll_interval_s,
            max_total=settings.alerts_max_subscriptions,
            max_per_client=settings.alerts_max_subscriptions_per_address,
        )
        stack.push_async_callback(watch.aclose)
        yield Resources(
            settings=settings,
            pool=pool,
            redis=redis,
            cache=cache,
            listener=listener,
            writer=writer,
            keys=keys,
            embedder=embedder,
            service=service,
            metrics=metrics,
            census=census,
            alerts=AlertService(settings, service, AlertStore(pool), writer),
            watch=watch,
            proxies=TrustedProxies(settings.trusted_proxies),
        )


def resources_of(state: State) -> Resources:
    resources: Resources = state.resources
    return resources


def provide_context(state: State, scope: Scope) -> Any:
    """Dependency ``api_context``: the GraphQL context for this request or WebSocket (a
    Context; typed Any so Litestar does not try to validate it as data)."""
    resources = resources_of(state)
    return resources.context(client_id(scope, resources.proxies))


@get("/health")
async def health(state: State) -> Response[dict[str, Any]]:
    r = resources_of(state)
    status, body = await health_report(
        pool=r.pool,
        redis=r.redis,
        cache=r.cache,
        listener=r.listener,
        writer=r.writer,
        model=r.embedder.name,
        census=r.census,
    )
    return Response(body, status_code=status, media_type=MediaType.JSON)


@get("/metrics")
async def metrics(state: State, request: Request[Any, Any, Any]) -> Response[bytes]:
    body, content_type = resources_of(state).metrics.render(request.headers.get("accept"))
    # As a header, not media_type: Litestar appends "; charset=" to a text/ media type,
    # and the type chosen already carries one.
    return Response(body, headers={"content-type": content_type})


def create_app(settings: Settings) -> Litestar:
    """The API app for these settings; nothing is opened until its lifespan starts."""
    synonyms.install(settings.skill_aliases)  # filters, facets and matching of this process
    limiter = RateLimiter(settings)
    schema = build_schema(
        max_depth=settings.max_query_depth, limits=settings, charge=limiter.charge
    )
    assets = Assets()  # read (and hashed) once per app, before the first page

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            app.state.resources = resources
            limiter.keys = resources.keys
            app.state.web_assets = assets
            log.info("api ready", host=settings.api_host, port=settings.api_port)
            yield

    def too_large(request: Request[Any, Any, Any], exc: RequestEntityTooLarge) -> Response[Any]:
        limit = settings.max_request_bytes
        return Response(
            error_document(
                f"request body is larger than {limit} bytes (JOBSTREAM_MAX_REQUEST_BYTES)",
                BAD_USER_INPUT,
                limit=limit,
            ),
            status_code=413,
            media_type=MediaType.JSON,
        )

    return Litestar(
        route_handlers=[graphql_controller(schema), health, metrics, web_router()],
        dependencies={"api_context": Provide(provide_context, sync_to_thread=False)},
        lifespan=[lifespan],
        middleware=[limiter.middleware, CancelOnDisconnect],
        exception_handlers={RequestEntityTooLarge: too_large, **HTTP_ERROR_HANDLERS},
        template_config=template_config(),
        compression_config=compression_config(),
        request_max_body_size=settings.max_request_bytes,
        before_send=[security_headers],
        debug=False,
    )
