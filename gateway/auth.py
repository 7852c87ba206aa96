"""Bearer-token check for the ingest service, as a gRPC server interceptor.

Only ``jobstream.v1.IngestService`` is guarded: health checks and reflection stay open so
load balancers and grpcurl work without the secret. Tokens are compared with
``hmac.compare_digest`` so the comparison time does not leak how much of a guess matched.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from grpc import aio

from gateway import metrics

INGEST_SERVICE = "jobstream.v1.IngestService"
_PREFIX = f"/{INGEST_SERVICE}/"

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


def metadata_value(metadata: Any, key: str) -> str | None:
    """The first value of ``key`` in gRPC invocation metadata (keys are lower case)."""
    for item in metadata or ():
        k, v = item[0], item[1]
        if k == key:
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return None


def check_token(expected: str, header: str | None) -> str | None:
    """None when ``header`` is ``Bearer <expected>``, else why not (no secret in it)."""
    if header is None:
        return "missing `authorization: Bearer <token>` metadata (JOBSTREAM_INGEST_TOKEN)"
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "authorization metadata must be `Bearer <token>`"
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return "invalid ingest token"
    return None


class TokenAuthInterceptor(aio.ServerInterceptor):
    """Refuse ingest calls without the right bearer token with UNAUTHENTICATED."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails],
            Awaitable[grpc.RpcMethodHandler[_Request, _Response] | None],
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[_Request, _Response] | None:
        method = handler_call_details.method or ""
        if not method.startswith(_PREFIX):
            return await continuation(handler_call_details)
        header = metadata_value(handler_call_details.invocation_metadata, "authorization")
        problem = check_token(self._token, header)
        if problem is None:
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        return _refusal(handler, problem)


def _refusal(
    handler: grpc.RpcMethodHandler[Any, Any] | None, message: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as ``handler`` that only aborts with UNAUTHENTICATED."""

    async def refuse(context: aio.ServicerContext[Any, Any]) -> NoReturn:
        metrics.STREAM_ERRORS.labels(code="UNAUTHENTICATED").inc()
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def unary(_request: Any, context: aio.ServicerContext[Any, Any]) -> NoReturn:
        await refuse(context)

    async def streaming(
        _requests: Any, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        await refuse(context)
        yield  # pragma: no cover - makes this an async generator; refuse() raises

    if handler is not None and handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(streaming)
    if handler is not None and handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary)
    if handler is not None and handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(streaming)
    return grpc.unary_unary_rpc_method_handler(unary)
