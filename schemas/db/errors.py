"""Which database failures mean "the connection or the server is gone", for every role.

The sink drops its pooled connections and retries on them; the API answers UNAVAILABLE
("retry shortly") instead of an internal error. Both ask the same question, so it is
answered here once.
"""

from __future__ import annotations

import asyncio

import asyncpg


def is_connection_error(exc: BaseException) -> bool:
    """The connection itself is suspect (refused, lost, the server starting or shutting
    down, a timeout): nothing about the statement or its data. ``InternalClientError`` is
    what the pool's reset of a connection that died mid-statement raises ("cannot switch
    to state ...")."""
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InternalClientError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.CrashShutdownError
        | OSError
        | asyncio.TimeoutError,
    )
