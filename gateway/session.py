"""One Ingest stream as a :class:`Session`: reader -> write tasks -> settler -> acks.

The protocol it keeps (budgets, pipelining, ordered acks, sequence rules, one stream per
producer id) is described in :mod:`gateway.service`, which opens the sessions.

Each batch is a span ("ingest batch", from its arrival to its ack) continuing the
producer's ``traceparent`` when the stream's metadata carried one; its write task runs
inside it, so the records it writes carry its context (:mod:`gateway.kafka_writer`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import grpc
import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode

from gateway import metrics
from gateway.budget import Budget
from gateway.sequences import Claim, ClaimTaken
from gateway.validation import Checked, check_batch
from gateway.wire import KAFKA_REFUSED, Undecodable
from schemas.auth import Principal
from schemas.domain import RejectReason
from schemas.jobstream.v1 import ingest_pb2
from schemas.tracing import tracer

if TYPE_CHECKING:
    from gateway.service import IngestService

log = structlog.get_logger("gateway.session")
TRACE_SCOPE = "jobstream.gateway"


class ForeignProducer(Exception):
    """The producer id is bound to another API key."""


@dataclass(frozen=True, slots=True)
class End:
    """The last thing a session emits: a clean end (``code`` None) or an error status."""

    code: grpc.StatusCode | None = None
    details: str = ""


@dataclass(slots=True)
class Batch:
    """One batch between being read and being acked."""

    sequence: int
    checked: Checked
    duplicate: bool
    permits: tuple[tuple[Budget, int], ...]  # what release() gives back
    started: float
    span: Span  # ended by Session.release
    written: asyncio.Task[None] | None = None

    def ack(self) -> ingest_pb2.IngestAck:
        return ingest_pb2.IngestAck(
            sequence=self.sequence,
            accepted_ids=[posting_id for posting_id, _ in self.checked.accepted],
            rejections=self.checked.rejections,
            duplicate=self.duplicate,
        )


@dataclass
class ProducerState:
    """Serialises the streams of one producer id."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: Session | None = None
    waiting: int = 0  # Ingest calls queued for the lock

    @property
    def idle(self) -> bool:
        return self.session is None and not self.waiting and not self.lock.locked()


class Session:
    """One Ingest stream: reader -> write tasks -> settler -> the handler's acks."""

    def __init__(
        self,
        service: IngestService,
        producer_id: str,
        principal: Principal,
        state: ProducerState,
        requests: AsyncIterator[ingest_pb2.IngestBatch | Undecodable],
        trace_parent: Context | None = None,
    ) -> None:
        self.service = service
        self.trace_parent = trace_parent
        self.producer_id = producer_id
        self.principal = principal
        self.state = state
        self.requests = requests
        settings = service.settings
        self.max_batch = settings.max_batch_records
        self.dim = settings.embedding_dim
        self.window = settings.gateway_sequence_window
        self.budget = Budget(settings.max_inflight_per_stream)
        self.bytes = Budget(settings.max_inflight_bytes_per_stream)
        self.idle_s = settings.gateway_stream_idle_s
        self.ack_timeout_s = settings.gateway_ack_timeout_s
        self.queue: asyncio.Queue[Batch | End] = asyncio.Queue()
        self.outbox: asyncio.Queue[Batch | End] = asyncio.Queue()
        self.high = 0
        self.messages = 0
        self.reader: asyncio.Task[None] | None = None
        self.settler: asyncio.Task[None] | None = None
        self._stop_reason: End | None = None
        self._client_alive = True
        self._last_enqueued: asyncio.Future[bool] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self.claim: Claim | None = None

    async def start(self) -> None:
        """Claim the producer id (fencing any other instance's stream of it) and load its
        sequences. Raises ForeignProducer when another key bound the id meanwhile,
        SequenceStoreError when Kafka does not answer."""
        self.claim = await self.service.sequences.claim(self.producer_id)
        problem = self.service.foreign(self.producer_id, self.principal)
        if problem is not None:
            await self.claim.release()
            raise problem
        self.high = self.service.sequences.last_acked(self.producer_id)
        self.state.session = self
        self.service.sessions.add(self)
        self.reader = asyncio.create_task(self._read(), name=f"ingest-read-{self.producer_id}")
        self.settler = asyncio.create_task(self._settle(), name=f"ingest-settle-{self.producer_id}")

    # --- control ----------------------------------------------------------------------
    def stop_reading(self, reason: End) -> None:
        if self.reader is not None and not self.reader.done():
            if self._stop_reason is None:
                self._stop_reason = reason
            self.reader.cancel()

    def client_gone(self) -> None:
        """The handler ended (normally, by abort or because the client left)."""
        self._client_alive = False
        self.stop_reading(End())
        while not self.outbox.empty():
            item = self.outbox.get_nowait()
            if isinstance(item, Batch):
                self.release(item)

    def release(self, item: Batch) -> None:
        """The batch is done with (acked, failed or abandoned): exactly once per batch."""
        for budget, n in item.permits:
            budget.release(n)
        metrics.INFLIGHT.dec(len(item.checked.accepted) + len(item.checked.rejections))
        item.span.end()

    # --- reader -----------------------------------------------------------------------
    async def _read(self) -> None:
        end = End()
        iterator = aiter(self.requests)
        try:
            while True:
                try:
                    batch = await self._next(iterator)
                except StopAsyncIteration:
                    break
                if batch is None:
                    end = End(
                        grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"no batch for {self.idle_s:g} s and none in flight: the idle stream "
                        "is closed (JOBSTREAM_GATEWAY_STREAM_IDLE_S); open a new one to send",
                    )
                    return
                if isinstance(batch, Undecodable):
                    end = End(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"message {self.messages + 1} of the stream is not an IngestBatch "
                        f"protobuf ({batch.size} bytes): {batch.error}",
                    )
                    return
                self.messages += 1
                problem = self._limits(batch)
                if problem is not None:
                    end = problem
                    return
                started, arrived_ns = time.monotonic(), time.time_ns()
                n = len(batch.postings)
                await self._pace(n)
                permits = await self._acquire(n, batch.ByteSize())
                self.queue.put_nowait(self._admit(batch, permits, started, arrived_ns))
        except asyncio.CancelledError:
            end = self._stop_reason or End()
        except Exception as exc:  # the client went away mid-read, or sent garbage
            log.info("stream read ended", producer_id=self.producer_id, error=repr(exc))
            end = End()
        finally:
            self.queue.put_nowait(end)

    async def _next(
        self, iterator: AsyncIterator[ingest_pb2.IngestBatch | Undecodable]
    ) -> ingest_pb2.IngestBatch | Undecodable | None:
        """The client's next message (StopAsyncIteration at its end), or None once it sent
        nothing for ``idle_s`` while nothing of it was in flight (checked every idle_s: a
        client waiting for acks is not idle)."""
        task = asyncio.ensure_future(anext(iterator))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.idle_s)
                if done:
                    return task.result()
                if self.budget.in_use == 0:
                    return None
        finally:
            if not task.done():
                task.cancel()

    async def _pace(self, records: int) -> None:
        """Wait out the key's record rate (JOBSTREAM_GATEWAY_RECORD_RATE_PER_KEY): the
        stream slows down, nothing is refused."""
        rate = self.service.record_rate
        if rate is None:
            return
        delay = rate.reserve(self.principal.key_id, records)
        if delay > 0:
            metrics.LIMITED.labels(limit="records_per_key").inc()
            await asyncio.sleep(delay)

    async def _acquire(self, records: int, size: int) -> tuple[tuple[Budget, int], ...]:
        """Records and bytes, this stream's then the gateway's (always in this order);
        all or nothing."""
        service = self.service
        wants = (
            (self.budget, records),
            (self.bytes, size),
            (service.total_budget, records),
            (service.total_bytes, size),
        )
        taken: list[tuple[Budget, int]] = []
        try:
            for budget, n in wants:
                taken.append((budget, await budget.acquire(n)))
        except BaseException:
            for budget, n in taken:
                budget.release(n)
            raise
        return tuple(taken)

    def _limits(self, batch: ingest_pb2.IngestBatch) -> End | None:
        if batch.sequence == 0:
            return End(
                grpc.StatusCode.INVALID_ARGUMENT,
                "IngestBatch.sequence must be >= 1 (got 0): number batches 1, 2, 3, ... "
                "per producer id, continuing from Resume's last_acked_sequence",
            )
        if batch.sequence > self.high + self.window:
            return End(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"IngestBatch.sequence {batch.sequence} is more than {self.window} past the "
                f"highest sequence taken for this producer id ({self.high}); number batches "
                "on from Resume's last_acked_sequence + 1 (JOBSTREAM_GATEWAY_SEQUENCE_WINDOW)",
            )
        n = len(batch.postings)
        if n > self.max_batch:
            return End(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"batch {batch.sequence} has {n} postings; the limit is {self.max_batch} "
                "per batch (max_batch_records, JOBSTREAM_MAX_BATCH_RECORDS)",
            )
        return None

    def _admit(
        self,
        batch: ingest_pb2.IngestBatch,
        permits: tuple[tuple[Budget, int], ...],
        started: float,
        arrived_ns: int,
    ) -> Batch:
        checked = check_batch(
            list(batch.postings),
            dim=self.dim,
            producer_id=self.producer_id,
            now=datetime.now(UTC),
        )
        metrics.INFLIGHT.inc(len(batch.postings))
        duplicate = batch.sequence <= self.high
        span = tracer(TRACE_SCOPE).start_span(
            "ingest batch",
            context=self.trace_parent,
            kind=SpanKind.SERVER,
            start_time=arrived_ns,  # budget and rate waits included
            attributes={
                "jobstream.producer_id": self.producer_id,
                "jobstream.batch.sequence": batch.sequence,
                "jobstream.batch.accepted": len(checked.accepted),
                "jobstream.batch.rejected": len(checked.rejections),
                "jobstream.batch.duplicate": duplicate,
            },
        )
        item = Batch(batch.sequence, checked, duplicate, permits, started, span)
        if duplicate or not checked.accepted:
            self.high = max(self.high, batch.sequence)
            return item
        self.high = batch.sequence
        enqueued: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with trace.use_span(span):  # the task copies the context: its records carry the span
            task = asyncio.create_task(self._write(checked, self._last_enqueued, enqueued))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        task.add_done_callback(_observe)
        self._last_enqueued = enqueued
        item.written = task
        return item

    async def _write(
        self,
        checked: Checked,
        previous: asyncio.Future[bool] | None,
        enqueued: asyncio.Future[bool],
    ) -> None:
        """Enqueue after the previous batch did (per-id order), then await Kafka's acks."""
        try:
            if previous is not None and not await previous:
                raise RuntimeError("an earlier batch of this stream failed to reach Kafka")
            began = time.monotonic()
            try:  # send() itself waits while no broker leads a partition
                futures = await asyncio.wait_for(
                    self.service.writer.enqueue(checked.accepted, self.producer_id),
                    self.ack_timeout_s,
                )
            except TimeoutError:
                raise TimeoutError(self._no_ack) from None
        except BaseException:
            enqueued.set_result(False)
            raise
        enqueued.set_result(True)
        if not futures:
            return
        left = max(0.0, self.ack_timeout_s - (time.monotonic() - began))
        _, pending = await asyncio.wait(futures, timeout=left)
        if pending:  # left running: a late ack changes nothing, a late write is harmless
            for late in pending:
                late.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise TimeoutError(self._no_ack)
        for future in futures:
            future.result()  # the first failure, raised

    # --- settler ----------------------------------------------------------------------
    async def _settle(self) -> None:
        backlog: deque[Batch | End] = deque()
        try:
            while True:
                head = backlog.popleft() if backlog else await self.queue.get()
                if isinstance(head, End):
                    self._emit(head)
                    return
                failure = await _outcome(head)
                if failure is not None:
                    self._emit(self._kafka_failure(head, failure))
                    return
                ready = [head]
                while True:  # coalesce batches whose writes already finished
                    if not backlog and self.queue.empty():
                        break
                    nxt = backlog.popleft() if backlog else self.queue.get_nowait()
                    if isinstance(nxt, End) or not _settled_ok(nxt):
                        backlog.appendleft(nxt)
                        break
                    ready.append(nxt)
                fresh = [b.sequence for b in ready if not b.duplicate]
                if fresh:
                    problem = await self._record(max(fresh))
                    if problem is not None:
                        for item in ready:
                            self.release(item)
                        self._emit(problem)
                        return
                for item in ready:
                    self._emit(item)
        finally:
            await self._wind_down(backlog)

    async def _record(self, sequence: int) -> End | None:
        """Record ``sequence`` under this stream's claim; the End to close with if not."""
        assert self.claim is not None  # start() claimed
        try:
            await asyncio.wait_for(
                self.claim.record(sequence, self.principal.key_id), self.ack_timeout_s
            )
        except ClaimTaken as exc:
            log.warning("producer id claimed elsewhere", producer_id=self.producer_id)
            return End(grpc.StatusCode.ABORTED, str(exc))
        except Exception as exc:
            log.error("sequence record failed", error=repr(exc))
            reason = self._no_ack if isinstance(exc, TimeoutError) else repr(exc)
            return End(
                grpc.StatusCode.UNAVAILABLE, f"{KAFKA_REFUSED} for the sequence record: {reason}"
            )
        return None

    @property
    def _no_ack(self) -> str:
        return (
            f"no acknowledgement within {self.ack_timeout_s:g} s "
            "(JOBSTREAM_GATEWAY_ACK_TIMEOUT_S): are enough brokers in sync?"
        )

    def _kafka_failure(self, item: Batch, error: BaseException) -> End:
        with trace.use_span(item.span):
            log.error(
                "kafka write failed",
                producer_id=self.producer_id,
                sequence=item.sequence,
                error=repr(error),
            )
        item.span.record_exception(error)
        item.span.set_status(StatusCode.ERROR, "Kafka refused the batch")
        self.release(item)
        return End(
            grpc.StatusCode.UNAVAILABLE,
            f"{KAFKA_REFUSED} for batch {item.sequence}: {error!r}; "
            "reconnect, call Resume and re-send",
        )

    def _emit(self, item: Batch | End) -> None:
        if isinstance(item, Batch):
            latency = time.monotonic() - item.started
            metrics.BATCH_LATENCY.observe(latency)
            if item.duplicate:
                metrics.BATCHES.labels(outcome="duplicate").inc()
            else:
                metrics.BATCHES.labels(outcome="acked").inc()
                metrics.ACCEPTED.inc(len(item.checked.accepted))
                for rejection in item.checked.rejections:
                    metrics.REJECTED.labels(reason=RejectReason(rejection.reason).name).inc()
            if not self._client_alive:
                self.release(item)
                return
        self.outbox.put_nowait(item)

    async def _wind_down(self, backlog: deque[Batch | End]) -> None:
        """Stop reading, free every budget still held, let writes finish, unlock."""
        try:
            self.stop_reading(End())
            if self.reader is not None:
                await asyncio.wait([self.reader], timeout=5)
            leftovers = list(backlog)
            while not self.queue.empty():
                leftovers.append(self.queue.get_nowait())
            for item in leftovers:
                if isinstance(item, Batch):
                    self.release(item)
            if self._writes:
                await asyncio.wait(list(self._writes), timeout=60)
        finally:
            self.service.sessions.discard(self)
            if self.state.session is self:
                self.state.session = None
            self.state.lock.release()
            self.service.forget_if_idle(self.producer_id, self.state)
            log.info("stream closed", producer_id=self.producer_id, last_sequence=self.high)
            if self.claim is not None:  # a next stream's claim fences this one anyway
                await self.claim.release()


async def _outcome(item: Batch) -> BaseException | None:
    if item.written is None:
        return None
    try:
        await asyncio.shield(item.written)
    except asyncio.CancelledError:
        if item.written.cancelled():
            return RuntimeError("write cancelled")
        raise
    except Exception as exc:
        return exc
    return None


def _observe(task: asyncio.Task[None]) -> None:
    """Mark a write task's failure as seen: the settler reports the first one, and the
    batches chained behind it fail on purpose."""
    if not task.cancelled():
        task.exception()


def _settled_ok(item: Batch) -> bool:
    if item.written is None:
        return True
    return item.written.done() and not item.written.cancelled() and item.written.exception() is None
