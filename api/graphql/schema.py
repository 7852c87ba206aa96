"""The schema: root types plus the limits and error handling every request goes through.

- depth: ``QueryDepthLimiter(settings.max_query_depth)`` (introspection is exempt);
- tokens: ``MaxTokensLimiter`` so a huge document is refused before validation;
- errors: :class:`~api.graphql.errors.ErrorCodes` gives every error an
  ``extensions.code`` and masks unexpected ones;
- metrics: :class:`~api.metrics.OperationMetrics`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.graphql.errors import ErrorCodes
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.types import LONG_SCALAR, Long
from api.metrics import OperationMetrics

DEFAULT_MAX_DEPTH = 8
MAX_TOKENS = 5000


class ApiSchema(strawberry.Schema):
    """Strawberry's schema without its default error logging: ErrorCodes logs the
    unexpected errors (with a correlation id) and leaves client mistakes out of the logs."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None


def build_schema(max_depth: int = DEFAULT_MAX_DEPTH, max_tokens: int = MAX_TOKENS) -> ApiSchema:
    """The schema with its limits; the SDL does not depend on them."""
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: QueryDepthLimiter(max_depth=max_depth),
        OperationMetrics,
        ErrorCodes,
    ]
    return ApiSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
    )


def sdl() -> str:
    """The schema in SDL, as api/schema.graphql holds it."""
    return build_schema().as_str() + "\n"
