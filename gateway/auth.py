"""API-key check for the ingest service, as a gRPC server interceptor.

Only ``jobstream.v1.IngestService`` is guarded: health checks and reflection stay open so
load balancers and grpcurl work without a key. Every ingest call needs
``authorization: Bearer <token>`` of a key with the ``publish`` scope (``jobstream keys
create NAME --scope publish``, or the bootstrap JOBSTREAM_INGEST_TOKEN), checked by the
:class:`~schemas.auth.KeyRing` the API uses too. With no such key configured every call is
refused with how to create one. The caller's :class:`~schemas.auth.Principal` is then
available to the servicer through :func:`current_principal` (the interceptor and the
handler run in the same task).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any, NoReturn, TypeVar

import grpc
from grpc import aio

from gateway import metrics
from schemas.auth import KeyRing, Principal, Scope
from schemas.errors import JobStreamError, PermissionDeniedError, UnavailableError

INGEST_SERVICE = "jobstream.v1.IngestService"
_PREFIX = f"/{INGEST_SERVICE}/"

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")

_PRINCIPAL: ContextVar[Principal | None] = ContextVar("gateway_principal", default=None)


def current_principal() -> Principal | None:
    """The key the current ingest call was authorised with (None outside one)."""
    return _PRINCIPAL.get()


def metadata_value(metadata: Any, key: str) -> str | None:
    """The first value of ``key`` in gRPC invocation metadata (keys are lower case)."""
    for item in metadata or ():
        k, v = item[0], item[1]
        if k == key:
            return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return None


def status_of(error: JobStreamError) -> grpc.StatusCode:
    """The gRPC status of an authentication failure's kind."""
    if isinstance(error, PermissionDeniedError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, UnavailableError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.UNAUTHENTICATED


class KeyAuthInterceptor(aio.ServerInterceptor):
    """Refuse ingest calls without a valid ``publish`` key; remember who called."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

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
        try:
            principal = self._keys.authorize(header, Scope.PUBLISH)
        except JobStreamError as exc:
            handler = await continuation(handler_call_details)
            return _refusal(handler, status_of(exc), exc.message)
        _PRINCIPAL.set(principal)
        return await continuation(handler_call_details)


def _refusal(
    handler: grpc.RpcMethodHandler[Any, Any] | None, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same shape as ``handler`` that only aborts with ``code``."""

    async def refuse(context: aio.ServicerContext[Any, Any]) -> NoReturn:
        metrics.STREAM_ERRORS.labels(code=code.name).inc()
        await context.abort(code, message)

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
