"""Machine-readable error codes in ``extensions.code``, and no stack traces, ever.

Codes: ``BAD_USER_INPUT`` (syntax, unknown fields, wrong variables, limits, bad
filters or cursors), ``NOT_FOUND``, ``UNAUTHENTICATED``, ``FORBIDDEN`` (a key without the
scope), ``UNAVAILABLE`` (a dependency did not answer in time: Kafka, a busy database pool,
a statement or operation past its timeout; retry later), ``INTERNAL``. Known problems
(any :class:`~schemas.errors.JobStreamError`, mapped by kind, never by class) keep their
message (it names the field or limit) and put ``field`` in ``extensions.field``; anything
unexpected is replaced by "internal error" with a correlation id, and its traceback is
logged under that id, so an operator can find it and a client learns nothing about the
code.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from schemas.errors import (
    BAD_USER_INPUT,
    FORBIDDEN,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHENTICATED,
    UNAVAILABLE,
    BadInputError,
    JobStreamError,
    UnauthenticatedError,
)

__all__ = [
    "BAD_USER_INPUT",
    "CODES",
    "FORBIDDEN",
    "INTERNAL",
    "NOT_FOUND",
    "UNAUTHENTICATED",
    "UNAVAILABLE",
    "BadUserInput",
    "ErrorCodes",
    "Unauthenticated",
    "classify",
    "classify_all",
]

log = structlog.get_logger("api.graphql")

INTERNAL = "INTERNAL"
CODES = frozenset(
    {BAD_USER_INPUT, NOT_FOUND, UNAUTHENTICATED, FORBIDDEN, UNAVAILABLE, RATE_LIMITED, INTERNAL}
)


class BadUserInput(BadInputError):
    """A resolver's own argument check failed; ``field`` names the argument."""


class Unauthenticated(UnauthenticatedError):
    """The admin token is missing, wrong, or admin operations are disabled."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _field_path(error: JobStreamError) -> str | None:
    """The field as the client wrote it: ``filter.experienceMinYears``, ``after``."""
    if error.field is None or error.argument is None:
        return error.field
    return f"{error.argument}.{_camel(error.field)}"


_LONG_NUMBER = re.compile(r"\d{41,}")
_PYTHON_ADVICE = "; use sys.set_int_max_str_digits() to increase the limit"


def _brief(message: str) -> str:
    """A message about the client's document with the numbers it echoes cut short: a
    5,000-digit literal is named by its length, not repeated, and Python's advice to
    its own programmers is left out."""
    message = message.replace(_PYTHON_ADVICE, "")
    return _LONG_NUMBER.sub(lambda m: f"{m[0][:8]}... ({len(m[0])} digits)", message)


def _refused_literal(error: GraphQLError) -> bool:
    """A scalar refused a literal or a variable of the document (graphql-core lets a
    scalar's parse raise any error and reports it against that node, keeping it as
    ``original_error``): the client's input, never a resolver's fault -- those carry a
    ``path``."""
    return (
        error.path is None
        and bool(error.nodes)
        and isinstance(error.original_error, ValueError | TypeError | OverflowError)
        and not isinstance(error.original_error, JobStreamError)  # mapped by its kind
    )


def classify(error: GraphQLError) -> GraphQLError:
    """The client-facing version of one error, with ``extensions.code`` set.

    Idempotent: an error that already carries one of our codes is returned unchanged.
    """
    extensions: dict[str, Any] = dict(error.extensions or {})
    if extensions.get("code") in CODES:
        return error
    original = error.original_error
    message = error.message
    if original is None or isinstance(original, GraphQLError) or _refused_literal(error):
        # Parse and validation errors, variable coercion, depth limit: the client's query.
        if isinstance(original, GraphQLError) and original.extensions:
            extensions = {**original.extensions, **extensions}
        code = extensions.get("code")
        extensions["code"] = code if code in CODES else BAD_USER_INPUT
        message = _brief(message)
    elif isinstance(original, JobStreamError):
        # Kind-less failures are INTERNAL; every message says what happened (and, for
        # UNAVAILABLE, to retry).
        extensions["code"] = original.code if original.code in CODES else INTERNAL
        message = original.message
        if original.field is not None:
            extensions["field"] = _field_path(original)
    else:
        correlation_id = uuid.uuid4().hex
        log.error(
            "unexpected error in a resolver",
            correlation_id=correlation_id,
            path=error.path,
            exc_info=original,
        )
        extensions = {"code": INTERNAL, "correlationId": correlation_id}
        message = f"internal error (correlation id {correlation_id})"
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def classify_all(errors: list[GraphQLError] | None) -> list[GraphQLError] | None:
    return None if errors is None else [classify(error) for error in errors]


class ErrorCodes(SchemaExtension):
    """Rewrites every error of a result: code in ``extensions.code``, unexpected ones masked."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and getattr(result, "errors", None):
            result.errors = classify_all(result.errors)
