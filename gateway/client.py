"""The producer side of ``IngestService``: ordered batches, a bounded window, resume.

:class:`IngestClient` numbers batches from ``Resume``'s answer + 1, keeps up to
``window`` batches un-acked (``send`` waits for room, so a slow gateway slows the
producer), and hands every ack to ``on_ack`` together with the tag given to ``send``.

When the stream breaks with a retryable status (UNAVAILABLE -- the gateway restarting or
draining --, CANCELLED, DEADLINE_EXCEEDED, INTERNAL from a write racing the end of the
stream, or the stream ending while batches are un-acked) it reconnects with exponential
backoff and jitter (tenacity), calls ``Resume`` and re-sends every un-acked batch under
its original sequence. Batches at or
below the resumed sequence were written before the disconnect; the gateway answers them
with ``duplicate=true`` and the original accepted ids and rejections (it re-validates,
never re-writes), so their ack content is not lost. Everything else (UNAUTHENTICATED,
INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ABORTED -- another stream took the producer id over)
fails the client with :class:`IngestError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from grpc import aio
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential_jitter,
)

from gateway.wire import KAFKA_REFUSED, RESUME_DEADLINE_S
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc, posting_pb2

PRODUCER_ID_KEY = "x-producer-id"
MAX_SEQUENCE = 2**64 - 1  # IngestBatch.sequence is a uint64

RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED}
)
# A write racing the gateway's end of the stream makes grpc report INTERNAL ("Internal
# error from Core") instead of the gateway's UNAVAILABLE, so a *stream* break with
# INTERNAL is retried too (bounded by the no-progress timeout like every retry).
STREAM_RETRYABLE = RETRYABLE | {grpc.StatusCode.INTERNAL}
AckCallback = Callable[[ingest_pb2.IngestAck, Any], None]

log = structlog.get_logger("gateway.client")


class IngestError(Exception):
    """The gateway refused the stream, or stayed unreachable past the reconnect budget."""

    def __init__(self, code: grpc.StatusCode | None, details: str, *, target: str) -> None:
        name = code.name if code is not None else "ERROR"
        super().__init__(f"{name}: {details}")
        self.code = code
        self.details = details
        self.target = target

    @property
    def unreachable(self) -> bool:
        return self.code in RETRYABLE and not self.kafka_refused

    @property
    def kafka_refused(self) -> bool:
        """The gateway answered, but Kafka did not take the batch (brokers gone)."""
        return self.details.startswith(KAFKA_REFUSED)


class _StreamBroken(Exception):
    """The stream ended without a final ack for every batch; reconnect."""


def default_producer_id(source: str | None = None) -> str:
    """A stable id per input (so a re-run resumes the same sequence), else a random one."""
    if source is None:
        return f"producer-{uuid.uuid4().hex[:16]}"
    return f"producer-{hashlib.sha256(source.encode()).hexdigest()[:16]}"


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, aio.AioRpcError) and exc.code() in RETRYABLE


def _stream_retryable(exc: BaseException) -> bool:
    if isinstance(exc, _StreamBroken):
        return True
    return isinstance(exc, aio.AioRpcError) and exc.code() in STREAM_RETRYABLE


@dataclass
class _Pending:
    batch: ingest_pb2.IngestBatch
    tag: Any
    sent_at: float = field(default_factory=time.monotonic)


class IngestClient:
    """An ordered, windowed, resumable Ingest stream (use as ``async with``)."""

    def __init__(
        self,
        target: str,
        *,
        producer_id: str,
        token: str | None = None,
        window: int = 8,
        max_message_bytes: int = 16 * 1024 * 1024,
        reconnect_timeout_s: float = 60.0,
        on_ack: AckCallback | None = None,
    ) -> None:
        self.target = target
        self.producer_id = producer_id
        self.window = max(1, window)
        self.reconnect_timeout_s = reconnect_timeout_s
        self.on_ack = on_ack
        self.metadata: tuple[tuple[str, str], ...] = ((PRODUCER_ID_KEY, producer_id),)
        if token:
            self.metadata += (("authorization", f"Bearer {token}"),)
        self._options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2_000),
            ("grpc.enable_retries", 0),
            # Several gateways behind one target (a DNS name with several addresses, or
            # "ipv4:10.0.0.1:50051,10.0.0.2:50051"): each call goes to the next ready one,
            # so a reconnect after a gateway's loss lands on a live instance.
            ("grpc.lb_policy_name", "round_robin"),
        ]
        self._channel: aio.Channel | None = None
        self._stub: ingest_pb2_grpc.IngestServiceStub | None = None
        self._pending: dict[int, _Pending] = {}  # insertion order = sequence order
        self._changed = asyncio.Condition()
        self._driver: asyncio.Task[None] | None = None
        self._closing = False
        self._error: IngestError | None = None
        self.next_sequence = 1
        self.resumed_from = 0
        self.reconnects = 0
        self.acked_batches = 0

    # --- lifecycle --------------------------------------------------------------------
    async def __aenter__(self) -> IngestClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            await self.flush()
        await self.close()

    async def connect(self) -> int:
        """Open the channel, ask where to resume, start streaming. Returns the last acked."""
        self._channel = aio.insecure_channel(self.target, options=self._options)
        self._stub = ingest_pb2_grpc.IngestServiceStub(self._channel)  # type: ignore[no-untyped-call]  # generated
        try:
            last = await self._resume()
        except BaseException:
            await self._channel.close()
            self._channel = None
            raise
        if last >= MAX_SEQUENCE:
            await self._channel.close()
            self._channel = None
            raise self._exhausted(last)
        self.resumed_from = last
        self.next_sequence = last + 1
        self._driver = asyncio.create_task(self._drive(), name=f"ingest-{self.producer_id}")
        return last

    async def close(self) -> None:
        self._closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._driver is not None:
            if not self._driver.done():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._driver), 5)
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError, IngestError):
                await self._driver
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    # --- producing --------------------------------------------------------------------
    async def send(self, postings: Sequence[posting_pb2.PostingEvent], tag: Any = None) -> int:
        """Queue one batch (waits while ``window`` batches are un-acked); its sequence."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self._error is not None or len(self._pending) < self.window
            )
            self._raise_if_failed()
            sequence = self.next_sequence
            if sequence > MAX_SEQUENCE:
                raise self._exhausted(sequence - 1)
            self.next_sequence += 1
            batch = ingest_pb2.IngestBatch(sequence=sequence, postings=postings)
            self._pending[sequence] = _Pending(batch, tag)
            self._changed.notify_all()
        return sequence

    async def flush(self) -> None:
        """Wait until every batch sent so far is acked."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._error is not None or not self._pending)
        self._raise_if_failed()

    def _exhausted(self, last: int) -> IngestError:
        return IngestError(
            grpc.StatusCode.OUT_OF_RANGE,
            f"producer id {self.producer_id!r} has no sequence numbers left (last acked "
            f"{last}, the largest is 2^64-1); produce under a new producer id (--producer-id)",
            target=self.target,
        )

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # --- the connection loop ----------------------------------------------------------
    async def _resume(self) -> int:
        """``Resume`` with backoff until it answers or ``reconnect_timeout_s`` passes."""
        assert self._stub is not None
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_retryable),
                wait=wait_exponential_jitter(multiplier=0.1, max=3.0, jitter=0.2),
                stop=stop_after_delay(self.reconnect_timeout_s),
                reraise=True,
            ):
                with attempt:
                    response = await self._stub.Resume(
                        ingest_pb2.ResumeRequest(),
                        metadata=self.metadata,
                        timeout=RESUME_DEADLINE_S,
                    )
        except aio.AioRpcError as exc:
            raise IngestError(exc.code(), exc.details() or "", target=self.target) from None
        return int(response.last_acked_sequence)

    async def _drive(self) -> None:
        """Stream until closed; on a retryable break, resume and re-send un-acked batches."""
        broken_since: float | None = None
        delay = 0.1
        try:
            while True:
                acked_before = self.acked_batches
                try:
                    await self._stream_once()
                    return
                except Exception as exc:
                    if not _stream_retryable(exc):
                        raise
                    now = time.monotonic()
                    if self.acked_batches > acked_before or broken_since is None:
                        broken_since, delay = now, 0.1
                    elif now - broken_since > self.reconnect_timeout_s:
                        raise
                    log.warning("stream broken, reconnecting", error=_describe(exc), delay=delay)
                    self.reconnects += 1
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 3.0)
                    last = await self._resume()
                    log.warning("resumed", last_acked_sequence=last, unacked=len(self._pending))
        except IngestError as exc:
            await self._fail(exc)
        except aio.AioRpcError as exc:
            await self._fail(IngestError(exc.code(), exc.details() or "", target=self.target))
        except _StreamBroken as exc:
            await self._fail(IngestError(grpc.StatusCode.UNAVAILABLE, str(exc), target=self.target))
        except Exception as exc:
            await self._fail(IngestError(None, repr(exc), target=self.target))

    async def _fail(self, error: IngestError) -> None:
        self._error = error
        async with self._changed:
            self._changed.notify_all()

    async def _stream_once(self) -> None:
        assert self._stub is not None
        call = self._stub.Ingest(metadata=self.metadata)
        writer = asyncio.create_task(self._write_all(call))
        try:
            while True:
                ack = await call.read()
                if ack is aio.EOF:
                    break
                await self._on_ack(ack)
            if self._pending or not self._closing:
                raise _StreamBroken("the gateway ended the stream with batches un-acked")
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            if not call.done():
                call.cancel()

    async def _write_all(
        self, call: aio.StreamStreamCall[ingest_pb2.IngestBatch, ingest_pb2.IngestAck]
    ) -> None:
        """Send every pending batch once, in order, then new ones; half-close when done."""
        written = 0  # highest sequence written on this stream
        while True:
            async with self._changed:
                await self._changed.wait_for(functools.partial(self._has_work, written))
                if self._closing and not self._pending:
                    break
                batches = [p.batch for seq, p in self._pending.items() if seq > written]
            for batch in batches:
                await call.write(batch)
                written = batch.sequence
        await call.done_writing()

    def _has_work(self, written: int) -> bool:
        if self._closing and not self._pending:
            return True
        return bool(self._pending) and next(reversed(self._pending)) > written

    async def _on_ack(self, ack: ingest_pb2.IngestAck) -> None:
        async with self._changed:
            pending = self._pending.pop(ack.sequence, None)
            if pending is None:
                log.warning("ack for an unknown sequence", sequence=ack.sequence)
                return
            # Acks come in order: anything older still pending was answered on a stream
            # that broke; it is re-sent and will be acked again.
            self.acked_batches += 1
            self._changed.notify_all()
        if self.on_ack is not None:
            self.on_ack(ack, pending.tag)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return repr(exc)
