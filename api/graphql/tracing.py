"""A span per GraphQL operation, named by it (``query Search``), continuing the caller's
HTTP ``traceparent`` (:mod:`schemas.tracing`).

Not Strawberry's ``OpenTelemetryExtension``: that one also wraps every resolver with a
custom ``resolve`` in a span of its own (awaited, even the sync ones) and records every
argument and the whole document as attributes, so a search page costs dozens of spans
and ships what users typed to the trace backend. One span per operation, current while
it runs (log lines carry its ids), is what an operator follows from a trace to a request.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, OperationDefinitionNode
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from strawberry.extensions import SchemaExtension

from schemas.tracing import extract, tracer

TRACE_SCOPE = "jobstream.api"


class OperationSpan(SchemaExtension):
    """Listed first among the schema's extensions, so the others run inside its span."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        request = getattr(context.context, "request", None)
        parent = extract(request.headers.items()) if request is not None else None
        span = tracer(TRACE_SCOPE).start_span("GraphQL", context=parent, kind=SpanKind.SERVER)
        if not span.is_recording() and not span.get_span_context().is_valid:
            yield  # no SDK and no caller's trace: nothing to carry (the common case)
            return
        with trace.use_span(span, end_on_exit=True):
            yield
            if not span.is_recording():
                return
            kind, name = _operation(context.graphql_document, context.operation_name)
            span.update_name(" ".join(part for part in (kind, name) if part) or "GraphQL")
            if kind:
                span.set_attribute("graphql.operation.type", kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
            errors = getattr(context.result, "errors", None)
            if errors:
                span.set_attribute("graphql.errors", len(errors))
                span.set_status(StatusCode.ERROR, str(errors[0].message)[:200])


def _operation(document: DocumentNode | None, name: str | None) -> tuple[str | None, str | None]:
    """(type, name) of the operation executed: the one named, else the document's first."""
    for definition in document.definitions if document is not None else ():
        if not isinstance(definition, OperationDefinitionNode):
            continue
        own = definition.name.value if definition.name else None
        if name is None or own == name:
            return definition.operation.value, own
    return None, name
