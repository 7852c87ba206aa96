"""One posting followed through the traces: a gRPC Ingest call carrying a producer's
``traceparent`` -> the gateway's batch span -> the Kafka record's headers -> the sink's
batch span (linked) -> the invalidation's headers -> the API's eviction span (linked) ->
its first GraphQL answer with the posting, in the producer's trace.

The gateway, a sink (BatchSink, what a worker runs per batch) and the API run in this
process, so one in-memory exporter sees every span; each hop in between is real Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from grpc import aio
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, get_current_span

from schemas import kafka, tracing
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc
from schemas.settings import Settings
from streams.dead_letters import DeadLetters
from streams.invalidations import Invalidations
from streams.metrics import SinkMetrics
from streams.sink.batch import BatchSink
from streams.sink.records import record_of
from streams.sink.writer import PostingsWriter
from tests.support.api import POSTING, app_settings, running_api, wait_until
from tests.support.gateway import running_gateway, sample_event
from tests.support.provision import PUBLISH_METADATA, free_port
from tests.support.sink import make_topics, read_all

pytestmark = pytest.mark.integration

PRODUCER_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PRODUCER_SPAN = 0x00F067AA0BA902B7
READER_SPAN = 0x53995C3F42CD8AD8


def traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def carried(headers: list[tuple[str, bytes]]) -> SpanContext:
    return get_current_span(tracing.extract(headers)).get_span_context()


def ids(context: SpanContext | None) -> tuple[int, int] | None:
    return None if context is None else (context.trace_id, context.span_id)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.provider_in_use(provider):
        yield exporter
    provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


async def sink_once(settings: Settings, records: list[object]) -> None:
    """What a worker does with one batch: write it, publish its invalidation."""
    producer = kafka.producer(settings, "trace-test")
    await producer.start()
    writer = PostingsWriter(settings.postgres_dsn, dim=settings.embedding_dim, source="trace-test")
    try:
        sink = BatchSink(
            writer=writer,
            dead_letters=DeadLetters(producer, settings.topic_dead_letters, group="trace-test"),
            invalidations=Invalidations(producer, settings.topic_invalidations),
            metrics=SinkMetrics(),
            dim=settings.embedding_dim,
            partitions=lambda _topic: None,
            pack_max=settings.pack_max_events,
            retry_max_s=1.0,
        )
        outcome = await sink.process([record_of(r) for r in records])
        assert outcome.changed == 1, outcome
    finally:
        await writer.close()
        await producer.stop()


async def test_a_posting_is_traced_from_grpc_to_its_first_graphql_answer(
    stack: Settings, spans: InMemorySpanExporter
) -> None:
    topics = await make_topics(stack, partitions=3)
    settings = app_settings(stack, topics, embedder="hash")
    event = sample_event(dim=settings.embedding_dim)
    event.id = f"trace:{uuid.uuid4().hex[:10]}"
    async with (
        running_api(settings) as api,
        running_gateway(settings, gateway_port=free_port()) as gateway,
    ):
        (missing,) = await api.errors(POSTING, {"id": event.id})
        assert missing["extensions"]["code"] == "NOT_FOUND"

        metadata = (
            ("x-producer-id", f"trace-{uuid.uuid4().hex[:8]}"),
            ("traceparent", traceparent(PRODUCER_TRACE, PRODUCER_SPAN)),
            *PUBLISH_METADATA,
        )
        async with aio.insecure_channel(gateway.address) as channel:
            call = ingest_pb2_grpc.IngestServiceStub(channel).Ingest(
                iter([ingest_pb2.IngestBatch(sequence=1, postings=[event])]), metadata=metadata
            )
            acks = [ack async for ack in call]
        assert list(acks[0].accepted_ids) == [event.id]

        # gateway: the batch span continues the producer's trace; its record carries it
        (ingest,) = named(spans, "ingest batch")
        assert ingest.context.trace_id == PRODUCER_TRACE
        assert ids(ingest.parent) == (PRODUCER_TRACE, PRODUCER_SPAN)
        (record,) = await read_all(settings, topics.postings, expect=1)
        assert ids(carried(record.headers)) == ids(ingest.context)

        # sink: its batch span starts a trace of its own, linked to the gateway's batch
        await sink_once(settings, [record])
        (batch,) = named(spans, "sink batch")
        assert batch.parent is None
        assert batch.context.trace_id != PRODUCER_TRACE
        assert [ids(link.context) for link in batch.links] == [ids(ingest.context)]
        (invalidation,) = await read_all(settings, topics.invalidations, expect=1)
        assert ids(carried(invalidation.headers)) == ids(batch.context)

        # API: the eviction is linked to the sink's batch; the next answer has the posting
        # and its span is in the trace of whoever asked (here: the producer's)
        async def evicted() -> bool:
            return bool(named(spans, "cache eviction"))

        await wait_until(evicted, timeout=10, what="the API's eviction span")
        (eviction,) = named(spans, "cache eviction")
        assert [ids(link.context) for link in eviction.links] == [ids(batch.context)]
        answer = await api.gql(
            POSTING,
            {"id": event.id},
            {"traceparent": traceparent(PRODUCER_TRACE, READER_SPAN)},
        )
        assert answer["posting"]["version"] == 1
        first, second = named(spans, "query One")
        assert first.context.trace_id != PRODUCER_TRACE  # asked without a traceparent
        assert ids(second.parent) == (PRODUCER_TRACE, READER_SPAN)
        assert second.attributes is not None
        assert second.attributes["graphql.operation.name"] == "One"
        assert (eviction.end_time or 0) <= (second.start_time or 0)
        # web: the posting's page, asked from the same trace, is one span named by its
        # route; a page for an unknown posting is a 404, not a failed request
        page = await api.client.get(
            f"/postings/{event.id}",
            headers={"traceparent": traceparent(PRODUCER_TRACE, READER_SPAN)},
        )
        assert page.status_code == 200
        missing_page = await api.client.get("/postings/trace:nothing-here")
        assert missing_page.status_code == 404
        shown, unknown = named(spans, "GET /postings/{posting_id}")
        assert ids(shown.parent) == (PRODUCER_TRACE, READER_SPAN)
        assert shown.attributes is not None
        assert shown.attributes["http.response.status_code"] == 200
        assert unknown.attributes is not None
        assert unknown.attributes["http.response.status_code"] == 404
        assert unknown.status.is_ok
