"""The schema: root types plus the limits and error handling every request goes through.

- depth: ``QueryDepthLimiter``'s rule (introspection is exempt), built once per schema;
- tokens: ``MaxTokensLimiter`` so a huge document is refused before validation;
- cost: the alias rule (validation, cached per document) and ``CostLimit`` (before
  execution, as the cost depends on variables), see :mod:`api.graphql.cost`;
- time: :meth:`ApiSchema.execute` cancels an operation past its deadline
  (:mod:`api.graphql.deadline`);
- connections: an operation holds at most ``JOBSTREAM_API_REQUEST_DB_CONNECTIONS`` pooled
  connections at once (:func:`api.database.request_connections`);
- documents: ``ParserCache`` and ``ValidationCache`` parse and validate each distinct
  document once (bounded LRU). Parse + validate cost ~1.8 ms per request, five times
  the execution of a cached search; clients send the same few documents with different
  variables. The depth rule must be the same class on every request, or the validation
  cache's key (schema, document, rules) never repeats;
- errors: :class:`~api.graphql.errors.ErrorCodes` gives every error an
  ``extensions.code`` and masks unexpected ones;
- metrics: :class:`~api.metrics.OperationMetrics`;
- traces: :class:`~api.graphql.tracing.OperationSpan`, first, so the rest runs in its span.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
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
from strawberry.types import ExecutionContext, ExecutionResult

from api.database import request_connections
from api.graphql.alerts import ALERT_STREAM
from api.graphql.cost import Charge, CostCache, CostLimit, alias_rule
from api.graphql.deadline import within
from api.graphql.errors import ErrorCodes, classify_all
from api.graphql.mutations import Mutation
from api.graphql.queries import Query
from api.graphql.tracing import OperationSpan
from api.graphql.types import LONG_SCALAR, Long
from api.metrics import OperationMetrics
from schemas.settings import Settings

DEFAULT_MAX_DEPTH = 8
MAX_TOKENS = 5000
DOCUMENT_CACHE_SIZE = 512


@strawberry.type
class Subscription:
    alerts = ALERT_STREAM


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
    """Strawberry's schema without its default error logging (ErrorCodes logs the
    unexpected errors with a correlation id and leaves client mistakes out of the logs),
    and with a deadline on every execution."""

    def __init__(
        self, *args: Any, timeout_s: float, db_connections: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_s = timeout_s
        self.db_connections = db_connections  # None: no per-operation bound

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        if self.db_connections is None:
            return await within(self.timeout_s, super().execute(*args, **kwargs))
        with request_connections(self.db_connections):
            return await within(self.timeout_s, super().execute(*args, **kwargs))

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        """Each result of a subscription (over WebSocket) with its errors classified as a
        query's are (the ErrorCodes extension does not see a stream's results)."""
        results: Any = await super().stream(*args, **kwargs)

        async def classified() -> AsyncGenerator[Any, None]:
            try:
                async for result in results:
                    if getattr(result, "errors", None):
                        result.errors = classify_all(result.errors)
                    yield result
            finally:
                await results.aclose()

        return classified()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None


def build_schema(
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_tokens: int = MAX_TOKENS,
    limits: Settings | None = None,
    charge: Charge | None = None,
) -> ApiSchema:
    """The schema with its limits (cost, aliases, page size and deadline from ``limits``,
    default settings without; operations billed to the rate limits by ``charge``); the
    SDL does not depend on them."""
    limits = limits or Settings.model_construct()  # the defaults, not the environment
    rules = [
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        alias_rule(limits.max_aliases),
    ]
    costs = CostCache(limits.max_page_size, DOCUMENT_CACHE_SIZE)
    extensions: list[Any] = [
        OperationSpan,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules(rules),
        lambda: DocumentCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: CostLimit(max_cost=limits.max_query_cost, costs=costs, charge=charge),
        OperationMetrics,
        ErrorCodes,
    ]
    return ApiSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={Long: LONG_SCALAR}),
        timeout_s=limits.graphql_timeout_s,
        db_connections=limits.api_request_db_connections,
    )


def sdl() -> str:
    """The schema in SDL, as api/schema.graphql holds it."""
    return build_schema().as_str() + "\n"
