"""Retry transient failures forever, with exponential backoff and full jitter.

A lost server (refused or dropped connections) is tried again at least every
:data:`RECONNECT_MAX_S`: a refused connect costs nothing, and the first write after
PostgreSQL returns -- with the invalidations a COMMIT lost mid-way left in the outbox --
must follow within the API's 1 s freshness bound. Other transient errors (serialization,
too many connections, a full disk) back off up to ``max_wait_s``.

The offset is held while we wait (nothing is acked), so retrying forever is safe: the
worker catches up by itself when PostgreSQL or Kafka is back. Jitter spreads the
reconnects of many workers after an outage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_never,
    wait_random_exponential,
)

from streams.sink.errors import describe, is_connection_error, is_transient

T = TypeVar("T")
RECONNECT_MAX_S = 0.5
log = structlog.get_logger("streams.retry")


async def retry_transient(
    operation: Callable[[], Awaitable[T]],
    *,
    what: str,
    max_wait_s: float,
    on_retry: Callable[[BaseException], Awaitable[None] | None] | None = None,
) -> T:
    """Run ``operation`` until it succeeds or fails with a non-transient error."""

    async def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "transient failure, retrying",
            operation=what,
            attempt=state.attempt_number,
            retry_in_s=round(wait, 2),
            error=describe(exc) if exc else None,
        )
        if on_retry is not None and exc is not None:
            result = on_retry(exc)
            if result is not None:
                await result

    backoff = wait_random_exponential(multiplier=0.2, max=max_wait_s)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        seconds = float(backoff(state))
        if exc is not None and is_connection_error(exc):
            return min(seconds, RECONNECT_MAX_S)
        return seconds

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait,
        stop=stop_never,
        reraise=True,
        before_sleep=before_sleep,
    )
    async for attempt in retrying:
        with attempt:
            return await operation()
    raise AssertionError("unreachable: stop_never")  # pragma: no cover
