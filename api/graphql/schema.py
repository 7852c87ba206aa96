"""The schema: root types plus the limits and error handling every request goes through.

- depth: ``QueryDepthLimiter``'s rule (introspection is exempt), built once per schema;
- tokens: ``MaxTokensLimiter`` so a huge document is refused before validation;
- documents: ``ParserCache`` and ``ValidationCache`` parse and validate each distinct
  document once (bounded LRU). Parse + validate cost ~1.8 ms per request, five times
  the execution of a cached search; clients send the same few documents with different
  variables. The depth rule must be the same class on every request, or the validation
  cache's key (schema, document, rules) never repeats;
- errors: :class:`~api.graphql.errors.ErrorCodes` gives every error an
  ``extensions.code`` and masks unexpected ones;
- metrics: :class:`~api.metrics.OperationMetrics`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.graphql.errors import ErrorCodes
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.types import LONG_SCALAR, Long
from api.metrics import OperationMetrics

DEFAULT_MAX_DEPTH = 8
MAX_TOKENS = 5000
DOCUMENT_CACHE_SIZE = 512


class DocumentCache(ParserCache):
    """``ParserCache`` that leaves a document it cannot parse to Strawberry.

    Strawberry reports a syntax error raised by its own parse step as a result error;
    raised from an extension's ``on_parse`` it escapes the operation hooks (so
    :class:`ErrorCodes` never sees it). Failed parses are not cached anyway."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        try:
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        except GraphQLError:
            context.graphql_document = None
        yield


class ApiSchema(strawberry.Schema):
    """Strawberry's schema without its default error logging: ErrorCodes logs the
    unexpected errors (with a correlation id) and leaves client mistakes out of the logs."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None


def build_schema(max_depth: int = DEFAULT_MAX_DEPTH, max_tokens: int = MAX_TOKENS) -> ApiSchema:
    """The schema with its limits; the SDL does not depend on them."""
    depth_rules = QueryDepthLimiter(max_depth=max_depth).validation_rules
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules(depth_rules),
        lambda: DocumentCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
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
