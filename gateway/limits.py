"""What one client may take from the gateway: calls per address, streams per key.

- **Calls per client address** (JOBSTREAM_GATEWAY_CALL_RATE_PER_ADDRESS): every
  ``Resume`` and every opened ``Ingest`` stream takes a token from its address's bucket,
  before the key is checked, so failed attempts count too. Over the rate the call ends
  with RESOURCE_EXHAUSTED and ``retry-after`` (seconds) in the trailing metadata. The
  address is the peer's, or the ``x-forwarded-for`` client when the peer is one of
  JOBSTREAM_TRUSTED_PROXIES.
- **Records per key** (JOBSTREAM_GATEWAY_RECORD_RATE_PER_KEY) pace a stream instead of
  failing it: the session waits before it reads on (:mod:`gateway.service`), so a fast
  producer is slowed by HTTP/2 flow control and nothing is lost or re-sent.
- **Concurrent streams** per key and in all (:class:`StreamSlots`): RESOURCE_EXHAUSTED
  beyond, except for a stream taking over the same key's live producer id (a client
  reconnecting before the gateway noticed its old connection died).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc import aio

from gateway import metrics
from gateway.auth import INGEST_SERVICE, metadata_value
from schemas.ratelimit import TokenBuckets, TrustedProxies, grpc_peer_host, retry_after
from schemas.settings import Settings

RETRY_AFTER = "retry-after"
_PREFIX = f"/{INGEST_SERVICE}/"

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class StreamSlots:
    """Open Ingest streams, counted per key and in all."""

    def __init__(self, per_key: int, total: int) -> None:
        self.per_key = per_key
        self.total = total
        self._open: Counter[str] = Counter()
        self._count = 0

    def open(self, key_id: str, *, replacing: bool = False) -> str | None:
        """Count a new stream; or say why it may not open (nothing counted then)."""
        if not replacing:
            if self._count >= self.total:
                metrics.LIMITED.labels(limit="streams_total").inc()
                return (
                    f"the gateway has {self._count} open streams, its limit "
                    "(JOBSTREAM_GATEWAY_MAX_STREAMS_TOTAL); retry later"
                )
            if self._open[key_id] >= self.per_key:
                metrics.LIMITED.labels(limit="streams_per_key").inc()
                return (
                    f"this API key has {self._open[key_id]} open streams, its limit "
                    "(JOBSTREAM_GATEWAY_MAX_STREAMS_PER_KEY); send on fewer streams or "
                    "close one first"
                )
        self._open[key_id] += 1
        self._count += 1
        return None

    def close(self, key_id: str) -> None:
        self._count -= 1
        self._open[key_id] -= 1
        if self._open[key_id] <= 0:
            del self._open[key_id]


class CallRateInterceptor(aio.ServerInterceptor):
    """Refuse ingest calls over the per-address call rate (see the module docstring).

    gRPC interceptors do not see the peer, so the check runs as the first step of the
    handler; it wraps whatever the next interceptor returns (a refusal too)."""

    def __init__(self, settings: Settings) -> None:
        rate = settings.gateway_call_rate_per_address
        self._buckets = (
            TokenBuckets(rate, max_clients=settings.rate_limit_max_clients) if rate else None
        )
        self._proxies = TrustedProxies(settings.trusted_proxies)

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails],
            Awaitable[grpc.RpcMethodHandler[_Request, _Response] | None],
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if self._buckets is None or handler is None or not method.startswith(_PREFIX):
            return handler
        forwarded = metadata_value(handler_call_details.invocation_metadata, "x-forwarded-for")
        return self._guarded(handler, forwarded)

    async def _admit(self, context: aio.ServicerContext[Any, Any], forwarded: str | None) -> None:
        assert self._buckets is not None
        client = self._proxies.client(grpc_peer_host(context.peer()), forwarded)
        wait = self._buckets.take(client)
        if not wait:
            return
        seconds = retry_after(wait)
        metrics.STREAM_ERRORS.labels(code=grpc.StatusCode.RESOURCE_EXHAUSTED.name).inc()
        metrics.LIMITED.labels(limit="calls_per_address").inc()
        context.set_trailing_metadata(((RETRY_AFTER, seconds),))
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"too many calls from your address ({self._buckets.per_s:g}/s burst "
            f"{self._buckets.burst:g}, JOBSTREAM_GATEWAY_CALL_RATE_PER_ADDRESS); retry "
            f"after {seconds} s",
        )

    def _guarded(
        self, handler: grpc.RpcMethodHandler[Any, Any], forwarded: str | None
    ) -> grpc.RpcMethodHandler[Any, Any]:
        admit = self._admit
        kwargs: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        # Any: the stubs type behaviours as the sync API's; on an aio server they are
        # coroutine functions and async generators taking an aio context.
        if handler.stream_stream is not None:
            stream_stream: Any = handler.stream_stream

            async def streaming(requests: Any, context: aio.ServicerContext[Any, Any]) -> Any:
                await admit(context, forwarded)
                responses: AsyncIterator[Any] = stream_stream(requests, context)
                async for response in responses:
                    yield response

            return grpc.stream_stream_rpc_method_handler(streaming, **kwargs)
        if handler.unary_unary is not None:
            unary_unary: Any = handler.unary_unary

            async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
                await admit(context, forwarded)
                return await unary_unary(request, context)

            return grpc.unary_unary_rpc_method_handler(unary, **kwargs)
        return handler  # IngestService has no other shapes
