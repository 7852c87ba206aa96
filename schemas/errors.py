"""The one root of the errors a person can act on, and its kinds.

Every error whose message is written for the caller (an API client, a web visitor, an
operator at the CLI) is a :class:`JobStreamError` of one kind: bad input, not found,
unauthenticated, forbidden (known caller, not allowed), unavailable or rate limited. Each
carries the ``message``, the ``field`` at fault when there is one, and the kind's machine
``code``.
The surfaces map kinds, never single classes: GraphQL in
``api.graphql.errors.classify``, the web pages in ``api.web.routes.jobstream_error_handler``,
the CLIs by exit code. A new error picks its kind here and every surface already knows
what to do with it.
"""

from __future__ import annotations

from typing import ClassVar

BAD_USER_INPUT = "BAD_USER_INPUT"
NOT_FOUND = "NOT_FOUND"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
UNAVAILABLE = "UNAVAILABLE"
RATE_LIMITED = "RATE_LIMITED"
FAILED = "FAILED"


class JobStreamError(Exception):
    """A known failure with a message for the person who caused it or must act on it."""

    code: ClassVar[str] = FAILED
    argument: ClassVar[str | None] = None
    """The request argument ``field`` is part of (``filter``), when it is part of one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class BadInputError(JobStreamError, ValueError):
    """The request, flag or setting cannot be used as given; ``field`` names it."""

    code = BAD_USER_INPUT


class NotFoundError(JobStreamError, LookupError):
    """The thing asked for does not exist (never did, or is deleted)."""

    code = NOT_FOUND


class UnauthenticatedError(JobStreamError):
    """The caller did not prove who it is (no or a wrong token)."""

    code = UNAUTHENTICATED


class PermissionDeniedError(JobStreamError):
    """The caller proved who it is but may not do this (a key without the scope, another
    key's producer id)."""

    code = FORBIDDEN


class UnavailableError(JobStreamError):
    """A service the request needs did not answer; the same request may succeed later."""

    code = UNAVAILABLE


class RateLimitedError(JobStreamError):
    """The caller sent more than its rate allows; ``retry_after_s`` says when it may again
    (HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED with ``retry-after``)."""

    code = RATE_LIMITED

    def __init__(self, message: str, *, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_s = retry_after_s
