"""Work for a client that has gone is cancelled: ASGI middleware for every HTTP request.

Neither uvicorn nor Litestar stops a handler when its client hangs up; the handler would
run to the end (a search, its database statements) for nobody, and a client that sends
costly requests and drops them could keep the server busy at no cost to itself. Here one
small task per request reads the ASGI ``receive`` channel on the app's behalf (the app
reads the same messages from a queue): when ``http.disconnect`` arrives before the
response is complete, the request's task is cancelled. The cancellation reaches whatever
the request awaits -- a resolver, a cache load, an asyncpg query, which asyncpg then
cancels in PostgreSQL -- and nothing is sent back, as nobody is listening.
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send


class CancelOnDisconnect:
    """Cancels the request's task when its client disconnects before the response ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != ScopeType.HTTP or task is None:
            await self.app(scope, receive, send)
            return
        messages: asyncio.Queue[ReceiveMessage] = asyncio.Queue()
        complete = False
        gone = False

        async def watch() -> None:
            nonlocal gone
            while True:
                message = await receive()
                messages.put_nowait(message)
                if message["type"] == "http.disconnect":
                    if not complete:
                        gone = True
                        task.cancel()
                    return

        async def tracked_send(message: Message) -> None:
            nonlocal complete
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                complete = True

        watcher = asyncio.create_task(watch())
        try:
            await self.app(scope, messages.get, tracked_send)
        except asyncio.CancelledError:
            if not gone or task.uncancel() > 0:
                raise  # cancelled by someone else too (server shutdown): let it through
        finally:
            watcher.cancel()  # not awaited: it may be this task's own cancellation
