"""/health: each dependency's state, and whether this instance can serve.

PostgreSQL is the one hard dependency (every answer comes from it, or from caches that
are only as good as it): down means 503. Redis (L2) and the invalidation consumer only
degrade the instance -- L1 and the per-id reads keep it correct -- so they give 200 with
``"status": "degraded"``.

The body says states, never why: a driver's error text can name hosts, users or
internals, and /health answers anyone who reaches the port. The text goes to the log.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis

    from api.cache import InvalidationListener, TieredCache
    from api.events import EventWriter

CHECK_TIMEOUT_S = 2.0
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


async def health_report(
    *,
    pool: asyncpg.Pool | None,
    redis: Redis | None,
    cache: TieredCache | None,
    listener: InvalidationListener | None,
    writer: EventWriter | None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of /health."""
    postgres, redis_state = await asyncio.gather(check_postgres(pool), check_redis(redis, cache))
    checks: dict[str, Any] = {
        "postgres": postgres,
        "redis": redis_state,
        "kafka_consumer": check_listener(listener),
        "kafka_producer": {
            "status": "ok" if writer is not None and writer.started else "degraded",
        },
    }
    if postgres["status"] != "ok":
        return 503, {"status": "down", "checks": checks}
    others_ok = all(c["status"] in ("ok", "disabled") for c in checks.values())
    return 200, {"status": "ok" if others_ok else "degraded", "checks": checks}
