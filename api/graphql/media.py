"""The two response media types of GraphQL over HTTP, and their status codes.

``application/json`` (the legacy type, and the answer without an ``Accept``, to ``*/*``
and to an ``Accept`` naming neither) keeps the behaviour clients already rely on: 200
for every GraphQL result, errors in the body. ``application/graphql-response+json``
(chosen when the client's ``Accept`` prefers it) follows the spec: a request that fails
before execution -- does not parse, does not validate, variables that do not coerce, a
cost over the limit -- is a 4xx without a ``data`` entry, so a client or proxy can tell
"not run" from "ran with errors" by the status alone; a result with ``data`` (even
``null`` after a field error) is a 200.
"""

from __future__ import annotations

from collections.abc import Sequence

from graphql import GraphQLError
from litestar.datastructures import Accept

from schemas.errors import (
    BAD_USER_INPUT,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHENTICATED,
    UNAVAILABLE,
)

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"

_STATUS = {
    BAD_USER_INPUT: 400,
    UNAUTHENTICATED: 401,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    RATE_LIMITED: 429,
    UNAVAILABLE: 503,
}


def response_type(accept: str | None) -> str:
    """The media type to answer with. Listed first (or with the higher ``q``), the
    client's preference wins; a wildcard alone means ``application/json``."""
    if not accept:
        return JSON
    return Accept(accept).best_match([JSON, GRAPHQL_RESPONSE], default=JSON)


def not_executed(data: object, errors: Sequence[GraphQLError] | None) -> bool:
    """A result of a request refused before execution: no data, and no error that a
    field raised (those carry a ``path``)."""
    return data is None and bool(errors) and all(e.path is None for e in errors or ())


def status_of(errors: Sequence[GraphQLError]) -> int:
    """The status of a request refused before execution, by its first error's code."""
    code = (errors[0].extensions or {}).get("code")
    return _STATUS.get(str(code), 500)
