"""Prometheus metrics of one API app: GraphQL operations and the cache's counters.

Names: ``jobstream_api_graphql_operations_total{operation, outcome}``,
``jobstream_api_graphql_seconds{operation}`` and the cache's ``jobstream_cache_*``
(hits/misses per kind and level, loads, generation, Redis health), which the
TieredCache registers in this registry itself.

Each app owns its registry (no process globals), so two apps in one process -- as the
tests run them -- count separately and never clash on metric names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from strawberry.extensions import SchemaExtension

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ApiMetrics:
    """The API's metrics in a private registry; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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

    def observe(self, operation: str, seconds: float, *, ok: bool) -> None:
        self.operations.labels(operation, "ok" if ok else "error").inc()
        self.latency.labels(operation).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def operation_label(document: Any, operation_name: str | None) -> str:
    """Root field names of the executed operation, e.g. ``search`` or ``posting+facets``.

    Field names are bounded by the schema, unlike client-chosen operation names, so the
    label set stays small whatever clients send.
    """
    if document is None:
        return "invalid"
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and (definition.name is None or definition.name.value != operation_name):
            continue
        names = sorted(
            {s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)}
        )
        return "+".join(names)[:100] or "empty"
    return "invalid"


class OperationMetrics(SchemaExtension):
    """Times each operation and counts it as ok or error, in the app's ApiMetrics."""

    def on_operation(self) -> Iterator[None]:
        start = time.perf_counter()
        yield
        context = self.execution_context.context
        metrics = getattr(context, "metrics", None)
        if metrics is None:
            return
        result = self.execution_context.result
        label = operation_label(
            self.execution_context.graphql_document, self.execution_context.operation_name
        )
        metrics.observe(label, time.perf_counter() - start, ok=not getattr(result, "errors", None))
