"""Prometheus metrics of one API app: GraphQL operations and the cache's counters.

Names: ``jobstream_api_graphql_operations_total{operation, outcome}``,
``jobstream_api_graphql_seconds{operation}``, ``jobstream_api_freshness_seconds{path}``
(commit -> eviction, invariant 6 of docs/architecture.md) and the cache's ``jobstream_cache_*``
(hits/misses per kind and level, loads, generation, Redis health), which the
TieredCache registers in this registry itself; plus ``process_*`` and ``python_*``.

Each app owns its registry (no process globals), so two apps in one process -- as the
tests run them -- count separately and never clash on metric names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from weakref import WeakKeyDictionary

from graphql import FieldNode, GraphQLSchema, OperationDefinitionNode
from prometheus_client import Counter, Histogram
from prometheus_client.exposition import choose_encoder
from strawberry.extensions import SchemaExtension

from api.cache.stats import FRESHNESS_PATHS
from schemas.metrics import process_registry


class ApiMetrics:
    """The API's metrics in a private registry; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = process_registry(auto_describe=True)
        self.operations = Counter(
            "jobstream_api_graphql_operations",
            "GraphQL operations by root fields and outcome (ok / error).",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "jobstream_api_graphql_seconds",
            "GraphQL operation latency by root fields.",
            ["operation"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )

        self.freshness = Histogram(
            "jobstream_api_freshness_seconds",
            "From the sink's commit of a posting change (Invalidation.committed_at, set in "
            "the batch's transaction) to this instance evicting it; path: kafka (the "
            "invalidation log) or outbox (the outbox watch, when Kafka is late).",
            ["path"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30),
            registry=self.registry,
        )
        for path in FRESHNESS_PATHS:  # both series exist from the start (rules read them)
            self.freshness.labels(path)

    def observe(self, operation: str, seconds: float, *, ok: bool) -> None:
        self.operations.labels(operation, "ok" if ok else "error").inc()
        self.latency.labels(operation).observe(seconds)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The body and its content type for a scraper's ``Accept`` header: OpenMetrics
        when it asks for it, Prometheus text 0.0.4 otherwise (prometheus_client decides)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


OTHER = "other"
"""The label of any operation with a root field the schema does not have."""

_ROOT_FIELDS: WeakKeyDictionary[GraphQLSchema, frozenset[str]] = WeakKeyDictionary()


def root_fields(schema: GraphQLSchema) -> frozenset[str]:
    """Every name a root field can have in ``schema``: its queries, mutations and the
    introspection fields -- read from the schema itself, so a new field is labelled
    without touching this module."""
    names = _ROOT_FIELDS.get(schema)
    if names is None:
        found = {"__schema", "__type", "__typename"}
        for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
            if root is not None:
                found.update(root.fields)
        names = _ROOT_FIELDS[schema] = frozenset(found)
    return names


def operation_label(document: Any, operation_name: str | None, known: frozenset[str]) -> str:
    """Root field names of the executed operation, e.g. ``search`` or ``posting+facets``.

    Only the schema's own root fields (``known``) make labels, so the series stay few
    whatever clients send: an operation naming any other field (``{ zz1 }``, ``{ zz2 }``...)
    is ``other``, like client-chosen operation names, which are never used.
    """
    if document is None:
        return "invalid"
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        names = {
            s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)
        }
        if not names <= known:
            return OTHER
        return "+".join(sorted(names)) or "empty"
    return "invalid"


class OperationMetrics(SchemaExtension):
    """Times each operation and counts it as ok or error, in the app's ApiMetrics; an
    operation cancelled on the way (execution timeout, client gone) counts as an error."""

    def on_operation(self) -> Iterator[None]:
        start = time.perf_counter()
        ok = False
        try:
            yield
            ok = not getattr(self.execution_context.result, "errors", None)
        finally:
            self._observe(time.perf_counter() - start, ok=ok)

    def _observe(self, seconds: float, *, ok: bool) -> None:
        context = self.execution_context
        metrics = getattr(context.context, "metrics", None)
        if metrics is None:
            return
        known = root_fields(context.schema._schema)
        label = operation_label(context.graphql_document, context.operation_name, known)
        metrics.observe(label, seconds, ok=ok)
