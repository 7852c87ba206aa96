"""The PostgreSQL connection of the one-shot commands: bounded retries, then a clear error
(their Kafka clients are :mod:`streams.ops.kafka`'s).

A worker retries forever (it holds offsets meanwhile); an operator's command should
say within seconds that a service is not there.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from schemas.settings import Settings
from streams.ops.errors import DatabaseUnreachable
from streams.ops.kafka import CONNECT_TIMEOUT_S

_NETWORK = (OSError, asyncio.TimeoutError, asyncpg.CannotConnectNowError)


async def connect_db(settings: Settings, *, timeout_s: float | None = None) -> Any:
    """One asyncpg connection, or :class:`DatabaseUnreachable`."""
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(_NETWORK),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            stop=stop_after_delay(timeout_s),
            reraise=True,
        ):
            with attempt:
                return await asyncpg.connect(settings.postgres_dsn, timeout=5)
    except _NETWORK as exc:
        raise DatabaseUnreachable(settings.postgres_dsn, str(exc) or type(exc).__name__) from None
    raise AssertionError("unreachable")  # pragma: no cover
