"""Traces across the pipeline: one setup for every process, and the W3C trace context
carried between them (README, "Traces (OpenTelemetry)").

A producer's gRPC metadata (``traceparent``) -> the gateway's span per ingest batch -> the
headers of the Kafka records it writes -> the sink worker's span per batch, *linked* to
every context its records carry (a batch mixes many traces, so none is its parent) ->
the headers of the batch's invalidation -> each API instance's eviction span, linked to
it. GraphQL operations get spans named by their operation, continuing an HTTP
``traceparent``.

:func:`configure` installs an SDK TracerProvider exporting OTLP/HTTP only when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; the
exporter reads the other ``OTEL_EXPORTER_OTLP_*`` variables, the batch processor
``OTEL_BSP_*``. Without one nothing is installed, not even the SDK imported:
OpenTelemetry's API is then a no-op (microseconds per batch) that still hands a caller's
context on, so a producer's ``traceparent`` reaches the Kafka headers either way.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import Span, SpanContext, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import Attributes

GATEWAY = "jobstream-gateway"
WORKER = "jobstream-worker"
API = "jobstream-api"

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

Headers = Sequence[tuple[str, bytes]]
"""Kafka record headers, as aiokafka and Faust give and take them."""

_configured: TracerProvider | None = None
_override: TracerProvider | None = None


def configure(service: str) -> TracerProvider | None:
    """Install the process's exporting TracerProvider when an OTLP endpoint is set (else
    return None and leave OpenTelemetry's no-op in place). Idempotent; the resource's
    ``service.name`` is ``service`` unless ``OTEL_SERVICE_NAME`` says otherwise."""
    global _configured
    if _configured is not None:
        return _configured
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or not any(os.environ.get(name) for name in ENDPOINT_VARS):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = SdkTracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = provider
    return provider


@contextmanager
def provider_in_use(provider: TracerProvider) -> Iterator[None]:
    """Route :func:`tracer` to ``provider`` for a while: a test's in-memory exporter sees
    every span of a gateway, a sink and an API running in one process, and the global
    provider (set once per process) stays untouched."""
    global _override
    previous, _override = _override, provider
    try:
        yield
    finally:
        _override = previous


def tracer(scope: str) -> Tracer:
    """The tracer of an instrumentation ``scope`` (``jobstream.gateway``, ...)."""
    return _tracer(_override or trace.get_tracer_provider(), scope)


@functools.lru_cache(maxsize=32)
def _tracer(provider: TracerProvider, scope: str) -> Tracer:
    return provider.get_tracer(scope)


# --- carrying the context ---------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _fields(propagator: TextMapPropagator) -> frozenset[str]:
    """The header names the propagators read (``traceparent``, ...): computed per call
    otherwise, on every request."""
    return frozenset(propagator.fields)


def kafka_headers(context: Context | None = None) -> list[tuple[str, bytes]]:
    """``traceparent``/``tracestate`` of ``context`` (the current one by default) as Kafka
    record headers; none when no span is active."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context)
    return [(key, value.encode()) for key, value in carrier.items()]


def extract(pairs: Iterable[tuple[str, str | bytes]] | None) -> Context:
    """The context carried by Kafka record headers, gRPC metadata or HTTP header items
    (an empty one when none)."""
    fields = _fields(propagate.get_global_textmap())
    carrier = {
        k.lower(): v if isinstance(v, str) else v.decode(errors="replace")
        for k, v in pairs or ()
        if k.lower() in fields
    }
    return propagate.extract(carrier) if carrier else Context()


def carried(headers_of_records: Iterable[Headers]) -> list[SpanContext]:
    """The distinct span contexts a batch of records carries. Records written by one
    gateway batch share theirs, so each distinct header set is parsed once."""
    fields = _fields(propagate.get_global_textmap())
    distinct = {
        tuple(h for h in headers if h[0].lower() in fields) for headers in headers_of_records
    }
    found: dict[tuple[int, int], SpanContext] = {}
    for headers in distinct:
        if headers:
            span_context = trace.get_current_span(extract(headers)).get_span_context()
            if span_context.is_valid:
                found[(span_context.trace_id, span_context.span_id)] = span_context
    return list(found.values())


@contextmanager
def linked_span(
    scope: str, name: str, headers_of_records: Iterable[Headers], attributes: Attributes = None
) -> Iterator[Span]:
    """The current span for work on records of many traces: a root of its own, linked to
    each context the records carry (their headers are not even read when the span does
    not record)."""
    with tracer(scope).start_as_current_span(
        name, context=Context(), kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        if span.is_recording():
            for span_context in carried(headers_of_records):
                span.add_link(span_context)
        yield span


# --- logs -------------------------------------------------------------------------------
def add_trace_ids(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: ``trace_id`` and ``span_id`` of the active span, if any."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event.setdefault("span_id", format(span_context.span_id, "016x"))
    return event
