"""/health: each dependency's state, and whether this instance can serve.

PostgreSQL is the one hard dependency (every answer comes from it, or from caches that
are only as good as it): down means 503. Redis (L2) and the invalidation consumer only
degrade the instance -- L1 and the per-id reads keep it correct -- so they give 200 with
``"status": "degraded"``. ``embedding`` says which model this instance embeds queries with
and how many live postings carry each model (postings of another model are found by their
words only); the counts are a GROUP BY over the table, so they are cached for
:data:`CENSUS_TTL_S` and refreshed in the background while the last ones are served.

The body says states, never why: a driver's error text can name hosts, users or
internals, and /health answers anyone who reaches the port. The text goes to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
from typing import TYPE_CHECKING, Any

import structlog

from schemas.db.embedding_models import postings_by_model

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis

    from api.cache import InvalidationListener, TieredCache
    from api.events import EventWriter

CHECK_TIMEOUT_S = 2.0
CENSUS_TTL_S = 10.0
CENSUS_TIMEOUT_S = 30.0  # a background refresh may take longer than a probe waits
# Listener status fields that are not states (an error text): logged, not answered.
PRIVATE_FIELDS = frozenset({"last_error"})

log = structlog.get_logger("api.health")


def _down(dependency: str, exc: BaseException) -> dict[str, Any]:
    """The state of a failed check; the reason is logged, not returned."""
    log.warning("health check failed", dependency=dependency, error=f"{type(exc).__name__}: {exc}")
    return {"status": "down"}


def _jsonable(value: Any) -> Any:
    """A listener status (dataclass, enum, mapping...) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


async def check_postgres(pool: asyncpg.Pool | None) -> dict[str, Any]:
    if pool is None:
        return {"status": "down"}
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), CHECK_TIMEOUT_S)
    except Exception as exc:
        return _down("postgres", exc)
    return {"status": "ok"}


async def check_redis(redis: Redis | None, cache: TieredCache | None) -> dict[str, Any]:
    if redis is None:
        return {"status": "disabled"}
    try:
        await asyncio.wait_for(redis.ping(), CHECK_TIMEOUT_S)
    except Exception as exc:
        return _down("redis", exc)
    cache_ok = True if cache is None else bool(cache.redis_healthy)
    return {"status": "ok" if cache_ok else "degraded", "cache_redis_healthy": cache_ok}


def check_listener(listener: InvalidationListener | None) -> dict[str, Any]:
    if listener is None:
        return {"status": "disabled"}
    try:
        status = _jsonable(listener.status())
    except Exception as exc:
        return _down("kafka_consumer", exc)
    if not isinstance(status, dict):
        status = {"state": status}
    status = {k: v for k, v in status.items() if k not in PRIVATE_FIELDS}
    ok = status.get("connected") is True
    return {**status, "status": "ok" if ok else "degraded"}


class EmbeddingCensus:
    """Live postings per embedding model, at most :data:`CENSUS_TTL_S` old once known.

    The first call waits for the count (at most :data:`CHECK_TIMEOUT_S`; the count goes on
    in the background); later calls answer at once with the last count and start one
    refresh when it is stale, so concurrent probes start one query, not many. The count
    is an index-only scan (migration 0006): ~90 ms at 100,000 postings on 2 busy cores.
    """

    def __init__(self, pool: asyncpg.Pool | None, ttl_s: float = CENSUS_TTL_S) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._counts: dict[str, int] | None = None
        self._counted_at = 0.0
        self._refresh: asyncio.Task[None] | None = None

    async def _count(self) -> None:
        assert self._pool is not None
        counts = await asyncio.wait_for(postings_by_model(self._pool), CENSUS_TIMEOUT_S)
        self._counts, self._counted_at = counts, asyncio.get_running_loop().time()

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._count())
            self._refresh.add_done_callback(_log_census_failure)
        return self._refresh

    async def counts(self) -> tuple[dict[str, int] | None, float | None]:
        """(postings per model, age in seconds), or (None, None) when never counted."""
        if self._pool is None:
            return None, None
        now = asyncio.get_running_loop().time()
        if self._counts is None:
            with contextlib.suppress(Exception):  # logged by the task's callback
                await asyncio.wait_for(asyncio.shield(self._start_refresh()), CHECK_TIMEOUT_S)
        elif now - self._counted_at > self._ttl_s:
            self._start_refresh()
        if self._counts is None:
            return None, None
        return dict(self._counts), max(0.0, now - self._counted_at)

    async def aclose(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresh


def _log_census_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _down("embedding_census", task.exception() or RuntimeError("census failed"))


async def check_embedding(model: str | None, census: EmbeddingCensus | None) -> dict[str, Any]:
    """The model queries are embedded with, and how many live postings carry each model."""
    counts, age = (None, None) if census is None else await census.counts()
    body: dict[str, Any] = {"model": model, "postings_by_model": counts}
    if age is not None:
        body["counted_s_ago"] = round(age, 1)
    if counts is not None and model is not None:
        body["postings_of_other_models"] = sum(n for m, n in counts.items() if m != model)
    return body


async def health_report(
    *,
    pool: asyncpg.Pool | None,
    redis: Redis | None,
    cache: TieredCache | None,
    listener: InvalidationListener | None,
    writer: EventWriter | None,
    model: str | None = None,
    census: EmbeddingCensus | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /health."""
    postgres, redis_state, embedding = await asyncio.gather(
        check_postgres(pool), check_redis(redis, cache), check_embedding(model, census)
    )
    checks: dict[str, Any] = {
        "postgres": postgres,
        "redis": redis_state,
        "kafka_consumer": check_listener(listener),
        "kafka_producer": {
            "status": "ok" if writer is not None and writer.started else "degraded",
        },
    }
    if postgres["status"] != "ok":
        return 503, {"status": "down", "checks": checks, "embedding": embedding}
    others_ok = all(c["status"] in ("ok", "disabled") for c in checks.values())
    status = "ok" if others_ok else "degraded"
    return 200, {"status": status, "checks": checks, "embedding": embedding}
