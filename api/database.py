"""The API's PostgreSQL pool: bounded waits, and every database failure a client can act on
named as one.

- A statement runs at most ``JOBSTREAM_API_STATEMENT_TIMEOUT_S`` (PostgreSQL's
  ``statement_timeout``, set per connection), so no request holds a connection and a
  backend for long whatever the client or the planner does.
- A request waits at most ``JOBSTREAM_API_POOL_ACQUIRE_TIMEOUT_S`` for a free connection,
  then gets an UNAVAILABLE error (GraphQL code ``UNAVAILABLE``, a 503 page) instead of
  queueing behind every other request.
- One GraphQL operation holds at most ``JOBSTREAM_API_REQUEST_DB_CONNECTIONS`` connections
  at once (:func:`request_connections`); its other statements queue behind them, not
  ahead of other requests.
- Connections carry ``application_name = jobstream-api``, so an operator (and the tests)
  can tell the API's statements apart in ``pg_stat_activity``.

A cancelled request (timeout, client gone) cancels its statement too: asyncpg sends
PostgreSQL a cancel request when the task awaiting a query is cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import Any

import asyncpg

from schemas.db.errors import is_connection_error
from schemas.errors import UnavailableError
from schemas.settings import Settings

POOL_MAX_SIZE = 10
APPLICATION_NAME = "jobstream-api"


class DatabaseBusy(UnavailableError):
    """Every pooled connection stayed busy for the whole acquire timeout."""


class StatementTimeout(UnavailableError):
    """PostgreSQL cancelled a statement that ran past ``statement_timeout``."""


class DatabaseUnreachable(UnavailableError):
    """The connection was refused or lost (PostgreSQL down, restarting, failing over)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(
            f"the database is unreachable ({type(exc).__name__}); retry shortly: the API "
            "reconnects by itself once PostgreSQL answers again"
        )


_REQUEST_SLOTS: ContextVar[asyncio.Semaphore | None] = ContextVar(
    "jobstream_request_db_slots", default=None
)


@contextmanager
def request_connections(limit: int) -> Iterator[None]:
    """Within this block (and the tasks it starts) at most ``limit`` connections are held
    at once: a costly GraphQL operation fans out into many resolvers, and without a bound
    they would take every pooled connection ahead of other requests
    (``JOBSTREAM_API_REQUEST_DB_CONNECTIONS``)."""
    token = _REQUEST_SLOTS.set(asyncio.Semaphore(limit))
    try:
        yield
    finally:
        _REQUEST_SLOTS.reset(token)


class _Acquire:
    """``pool.acquire()`` within the request's connection slots, with the pool's timeout
    and its failures as UnavailableErrors."""

    __slots__ = ("_held", "_inner", "_pool", "_slots", "_timeout")

    def __init__(self, pool: ApiPool, timeout: float | None) -> None:
        self._pool = pool
        self._timeout = timeout
        self._slots = _REQUEST_SLOTS.get()
        self._held = False
        self._inner: Any = None

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            if self._slots is not None:
                # Not under the acquire timeout: this waits for the request's own other
                # statements, and the operation's deadline bounds it.
                await self._slots.acquire()
                self._held = True
            self._inner = asyncpg.Pool.acquire(self._pool, timeout=self._timeout)
            return await self._inner.__aenter__()
        except TimeoutError:
            self._release_slot()
            raise DatabaseBusy(
                f"no database connection became free within {self._pool.acquire_timeout_s:g} s"
                " (JOBSTREAM_API_POOL_ACQUIRE_TIMEOUT_S): the server is busy, retry shortly"
            ) from None
        except BaseException as exc:
            self._release_slot()
            if isinstance(exc, Exception) and is_connection_error(exc):
                raise DatabaseUnreachable(exc) from None
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._inner.__aexit__(exc_type, exc, tb)
        finally:
            self._release_slot()
        if isinstance(exc, asyncpg.QueryCanceledError) and "statement timeout" in str(exc):
            raise StatementTimeout(
                f"the database query ran longer than {self._pool.statement_timeout_s:g} s"
                " (JOBSTREAM_API_STATEMENT_TIMEOUT_S) and was cancelled: retry shortly or"
                " narrow the request"
            ) from None
        lost = isinstance(exc, Exception) and not isinstance(exc, TimeoutError)
        if lost and exc is not None and is_connection_error(exc):  # mid-statement
            raise DatabaseUnreachable(exc) from None

    def _release_slot(self) -> None:
        if self._held and self._slots is not None:
            self._held = False
            self._slots.release()

    def __await__(self) -> Any:
        # A bare ``await pool.acquire()`` is released by ``pool.release``: no slot to hold.
        self._slots = None
        return self.__aenter__().__await__()


class ApiPool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg ships no types
    """An asyncpg pool whose ``acquire()`` waits at most ``acquire_timeout_s``."""

    def __init__(
        self, *args: Any, acquire_timeout_s: float, statement_timeout_s: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s
        self.statement_timeout_s = statement_timeout_s

    def acquire(self, *, timeout: float | None = None) -> _Acquire:
        return _Acquire(self, self.acquire_timeout_s if timeout is None else timeout)


async def open_pool(
    settings: Settings, *, init: Callable[[asyncpg.Connection], Awaitable[None]]
) -> ApiPool:
    """The API's pool (connecting lazily: ``min_size=0``, so the API starts while PostgreSQL
    is down)."""
    statement_timeout_ms = max(1, round(settings.api_statement_timeout_s * 1000))
    pool = ApiPool(
        settings.postgres_dsn,
        min_size=0,
        max_size=POOL_MAX_SIZE,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        connect=None,
        setup=None,
        init=init,
        reset=None,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        server_settings={
            "application_name": APPLICATION_NAME,
            "statement_timeout": str(statement_timeout_ms),
        },
        acquire_timeout_s=settings.api_pool_acquire_timeout_s,
        statement_timeout_s=settings.api_statement_timeout_s,
    )
    await pool
    return pool
