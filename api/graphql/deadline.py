"""The server-side execution timeout of a GraphQL operation (``JOBSTREAM_GRAPHQL_TIMEOUT_S``).

The cost bound limits what a document may ask for; the deadline limits what it may take,
whatever the cause (a cold cache, a slow database, a lock). On expiry the operation's task
is cancelled -- resolvers, cache loads and their asyncpg statements with it (asyncpg asks
PostgreSQL to cancel a statement whose awaiting task is cancelled) -- and the client gets
one ``UNAVAILABLE`` error naming the limit, never a partial result or INTERNAL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from graphql import GraphQLError
from strawberry.types import ExecutionResult

from schemas.errors import UnavailableError


class ExecutionTimeout(UnavailableError):
    """The operation ran past the deadline and was cancelled."""


async def within(timeout_s: float, execution: Awaitable[ExecutionResult]) -> ExecutionResult:
    """``execution``'s result, or an error result once ``timeout_s`` has passed."""
    try:
        async with asyncio.timeout(timeout_s):
            return await execution
    except TimeoutError:
        error = ExecutionTimeout(
            f"the operation did not finish within {timeout_s:g} s"
            " (JOBSTREAM_GRAPHQL_TIMEOUT_S) and was cancelled: ask for less or retry later"
        )
        return ExecutionResult(
            data=None, errors=[GraphQLError(error.message, original_error=error)]
        )
