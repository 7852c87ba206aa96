"""``jobstream.v1.IngestService``: validate batches, write them to Kafka, ack in order.

One Ingest call is a :class:`~gateway.session.Session` of three cooperating tasks:

- the *reader* pulls a batch from the client only after the stream's and the gateway's
  record budgets have room for it (``max_inflight_per_stream`` / ``max_inflight_total``).
  While it waits, gRPC stops reading the socket, HTTP/2 flow control pushes back on the
  client, and memory stays bounded: a slow Kafka slows the producers down.
- each accepted batch gets a *write* task that hands its records to the Kafka producer
  (strictly after the previous batch's, so per-id order holds) and awaits their acks.
  Several batches of one stream are in flight at once (pipelining).
- the *settler* takes batches in arrival order, waits for their Kafka acks, records the
  highest sequence in the sequence store, then queues the gRPC acks -- so acks leave in
  order and an ack always means "durably in Kafka, sequence recorded".

Sequence rules, per producer id (metadata ``x-producer-id``): ``0`` is refused with
INVALID_ARGUMENT; a sequence at or below the highest one already taken (acked, or in
flight on this stream) is a re-send: it is re-validated to repeat the same accepted ids
and rejections, acked with ``duplicate=true``, and written nowhere. Gaps are allowed, up
to ``gateway_sequence_window`` past the highest taken; a larger jump is INVALID_ARGUMENT
(else one batch numbered 2^64-1 would make every later one a "duplicate", silently lost).

A producer id belongs to the API key whose batch was recorded first under it (kept with
the sequences, :mod:`gateway.sequences`): another key's ``Resume`` or ``Ingest`` under it
is PERMISSION_DENIED, before it can touch the owner's live stream. The same key may take
over its own id (a restarted producer).

One stream per producer id at a time: a new stream (a client reconnecting before the
gateway noticed the old connection died) makes the old one stop reading; the new one
starts once the old one's in-flight batches are settled, so it sees their sequences.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc
import structlog
from grpc import aio

from gateway import metrics
from gateway.auth import current_principal, metadata_value
from gateway.budget import Budget
from gateway.kafka_writer import KafkaWriter
from gateway.limits import StreamSlots
from gateway.sequences import SequenceStore, SequenceStoreError
from gateway.session import End, ForeignProducer, ProducerState, Session
from gateway.wire import KAFKA_REFUSED, Undecodable, lenient
from schemas.auth import Principal
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc
from schemas.ratelimit import TokenBuckets
from schemas.settings import Settings
from schemas.tracing import extract

PRODUCER_ID_KEY = "x-producer-id"
PRODUCER_ID_PATTERN = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}", re.ASCII)

log = structlog.get_logger("gateway.service")


def register(service: IngestService, server: aio.Server) -> None:
    """Add the servicer with lenient request parsing (see :func:`lenient`)."""
    handlers = {
        "Ingest": grpc.stream_stream_rpc_method_handler(
            service.Ingest,
            request_deserializer=lenient(ingest_pb2.IngestBatch),
            response_serializer=ingest_pb2.IngestAck.SerializeToString,
        ),
        "Resume": grpc.unary_unary_rpc_method_handler(
            service.Resume,
            request_deserializer=lenient(ingest_pb2.ResumeRequest),
            response_serializer=ingest_pb2.ResumeResponse.SerializeToString,
        ),
    }
    name = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, handlers),))
    server.add_registered_method_handlers(name, handlers)


class IngestService(ingest_pb2_grpc.IngestServiceServicer):
    """The servicer; owns the gateway-wide record budget and the live sessions."""

    def __init__(
        self,
        settings: Settings,
        writer: KafkaWriter,
        sequences: SequenceStore,
        *,
        takeover_timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.writer = writer
        self.sequences = sequences
        self.total_budget = Budget(settings.max_inflight_total)
        self.total_bytes = Budget(settings.max_inflight_bytes_total)
        self.slots = StreamSlots(
            settings.gateway_max_streams_per_key, settings.gateway_max_streams_total
        )
        rate = settings.gateway_record_rate_per_key
        self.record_rate = (
            TokenBuckets(rate, max_clients=settings.rate_limit_max_clients) if rate else None
        )
        self.takeover_timeout_s = takeover_timeout_s
        self.sessions: set[Session] = set()
        self._producers: dict[str, ProducerState] = {}
        self.draining = False

    async def Resume(
        self,
        request: ingest_pb2.ResumeRequest | Undecodable,
        context: aio.ServicerContext[Any, Any],
    ) -> ingest_pb2.ResumeResponse:
        producer_id = await self._producer_id(context)
        principal = await self._principal(context)
        if isinstance(request, Undecodable):
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"not a ResumeRequest protobuf ({request.size} bytes): {request.error}",
            )
        try:
            await self.sequences.catch_up()
        except SequenceStoreError as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, f"{KAFKA_REFUSED}: {exc}")
        await self._check_owner(context, producer_id, principal)
        last = self.sequences.last_acked(producer_id)
        log.info("resume", producer_id=producer_id, last_acked_sequence=last)
        return ingest_pb2.ResumeResponse(last_acked_sequence=last)

    async def Ingest(
        self,
        request_iterator: AsyncIterator[ingest_pb2.IngestBatch | Undecodable],
        context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[ingest_pb2.IngestAck]:
        producer_id = await self._producer_id(context)
        principal = await self._principal(context)
        if self.draining:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, _DRAINING)
        try:
            await self.sequences.catch_up()
        except SequenceStoreError as exc:
            await _abort(context, grpc.StatusCode.UNAVAILABLE, f"{KAFKA_REFUSED}: {exc}")
        await self._check_owner(context, producer_id, principal)
        live = self._producers.get(producer_id)
        replacing = live is not None and live.session is not None  # own id: _check_owner
        problem = self.slots.open(principal.key_id, replacing=replacing)
        if problem is not None:
            await _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, problem)
        try:
            async for ack in self._stream(producer_id, principal, request_iterator, context):
                yield ack
        finally:
            self.slots.close(principal.key_id)

    async def _stream(
        self,
        producer_id: str,
        principal: Principal,
        request_iterator: AsyncIterator[ingest_pb2.IngestBatch | Undecodable],
        context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[ingest_pb2.IngestAck]:
        """One admitted stream: take over the producer id, run a Session, yield its acks."""
        state = self._producers.setdefault(producer_id, ProducerState())
        if state.session is not None:
            state.session.stop_reading(
                End(
                    grpc.StatusCode.ABORTED,
                    f"a newer Ingest stream for producer id {producer_id!r} took over",
                )
            )
        state.waiting += 1
        try:
            await asyncio.wait_for(state.lock.acquire(), self.takeover_timeout_s)
        except TimeoutError:
            state.waiting -= 1
            self.forget_if_idle(producer_id, state)
            await _abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"the previous stream of producer id {producer_id!r} is still finishing; retry",
            )
        except BaseException:
            state.waiting -= 1
            raise
        state.waiting -= 1
        # The producer's W3C traceparent, if it sent one: each batch's span continues it.
        parent = extract(context.invocation_metadata())
        session = Session(self, producer_id, principal, state, request_iterator, parent)
        try:
            await session.start()
        except BaseException as exc:
            state.lock.release()
            self.forget_if_idle(producer_id, state)
            if isinstance(exc, SequenceStoreError):
                await _abort(context, grpc.StatusCode.UNAVAILABLE, str(exc))
            if isinstance(exc, ForeignProducer):
                await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
            raise
        metrics.STREAMS.inc()
        log.info("stream open", producer_id=producer_id, resume_from=session.high)
        try:
            while True:
                item = await session.outbox.get()
                if isinstance(item, End):
                    if item.code is not None:
                        await _abort(context, item.code, item.details)
                    return
                try:
                    yield item.ack()
                finally:
                    session.release(item)
        finally:
            metrics.STREAMS.dec()
            session.client_gone()

    def forget_if_idle(self, producer_id: str, state: ProducerState) -> None:
        """Drop a producer's state once nothing uses it (ids are unbounded)."""
        if state.idle and self._producers.get(producer_id) is state:
            del self._producers[producer_id]

    def drain(self) -> None:
        """Stop reading new batches everywhere; in-flight ones still get their acks."""
        self.draining = True
        for session in list(self.sessions):
            session.stop_reading(End(grpc.StatusCode.UNAVAILABLE, _DRAINING))

    async def wait_settled(self, timeout: float) -> bool:
        """Wait until every session has recorded its acked sequences (True if all did)."""
        tasks = [s.settler for s in self.sessions if s.settler is not None]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending

    def foreign(self, producer_id: str, principal: Principal) -> ForeignProducer | None:
        """Why ``principal`` may not use ``producer_id`` (another key owns it or streams
        under it now), or None. Never names the other key."""
        owner = self.sequences.owner(producer_id)
        state = self._producers.get(producer_id)
        live = state.session.principal.key_id if state and state.session else None
        if any(k is not None and k != principal.key_id for k in (owner, live)):
            return ForeignProducer(
                f"producer id {producer_id!r} belongs to another API key; name your own "
                f"stream with a different `{PRODUCER_ID_KEY}` (produce --producer-id)"
            )
        return None

    async def _check_owner(
        self, context: aio.ServicerContext[Any, Any], producer_id: str, principal: Principal
    ) -> None:
        problem = self.foreign(producer_id, principal)
        if problem is not None:
            log.warning(
                "producer id of another key refused",
                producer_id=producer_id,
                key_id=principal.key_id,
            )
            await _abort(context, grpc.StatusCode.PERMISSION_DENIED, str(problem))

    async def _principal(self, context: aio.ServicerContext[Any, Any]) -> Principal:
        """The caller's key (set by the interceptor); refuse when there is none."""
        principal = current_principal()
        if principal is None:
            await _abort(
                context,
                grpc.StatusCode.UNAUTHENTICATED,
                "this call was not authorised with an API key (publish scope)",
            )
        return principal

    async def _producer_id(self, context: aio.ServicerContext[Any, Any]) -> str:
        value = metadata_value(context.invocation_metadata(), PRODUCER_ID_KEY)
        if value is None:
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"missing `{PRODUCER_ID_KEY}` metadata: name the producer (1-200 chars of "
                "letters, digits and . _ : @ / + = -) so its stream can be resumed",
            )
        if not PRODUCER_ID_PATTERN.fullmatch(value):
            await _abort(
                context,
                grpc.StatusCode.INVALID_ARGUMENT,
                f"`{PRODUCER_ID_KEY}` {value[:60]!r} must be 1-200 chars of letters, digits "
                "and . _ : @ / + = -",
            )
        return value


_DRAINING = "the gateway is shutting down; reconnect, call Resume and re-send"


async def _abort(
    context: aio.ServicerContext[Any, Any], code: grpc.StatusCode, details: str
) -> NoReturn:
    """Count the error, then end the RPC: ``context.abort`` raises, it never returns."""
    metrics.STREAM_ERRORS.labels(code=code.name).inc()
    await context.abort(code, details)
