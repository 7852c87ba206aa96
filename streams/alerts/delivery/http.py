"""The webhook HTTP client: never to a refused address, never a redirect, no cookies,
no proxy from the environment, bounded connections per host.

aiohttp skips the resolver for an IP-literal host, so :func:`schemas.webhooks.url_refusal`
checks those; a host name goes through :class:`GuardedResolver`, which drops every
resolved address the rule refuses and fails when none is left. The connection is made to
the addresses checked, so a name re-pointed between check and connect changes nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from schemas.settings import Settings
from schemas.webhooks import ALERT_ID_HEADER, SIGNATURE_HEADER, address_refusal

USER_AGENT = "JobStream-Webhooks/1"
BODY_READ_MAX = 64 * 1024


class RefusedAddress(OSError):
    """Every address the host name resolved to is one webhooks may not go to."""


class GuardedResolver(AbstractResolver):
    """The threaded (getaddrinfo) resolver, keeping only addresses allowed for ``scheme``."""

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [
            r
            for r in results
            if address_refusal(ipaddress.ip_address(r["host"]), self.scheme) is None
        ]
        if not allowed:
            why = address_refusal(ipaddress.ip_address(results[0]["host"]), self.scheme)
            raise RefusedAddress(f"{host} resolves only to refused addresses ({why})")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Response:
    status: int


class WebhookClient:
    """One session per scheme (each with its own resolver rule)."""

    def __init__(self, settings: Settings) -> None:
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s)
        self.sessions = {
            scheme: aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    resolver=GuardedResolver(scheme),
                    limit=settings.webhook_concurrency,
                    limit_per_host=settings.webhook_per_host,
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                headers={"User-Agent": USER_AGENT},
            )
            for scheme in ("http", "https")
        }

    async def post(self, url: str, body: bytes, *, alert_id: str, signature: str) -> Response:
        """POST once; raises aiohttp / timeout errors as they come."""
        session = self.sessions["https" if url.startswith("https:") else "http"]
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature,
            ALERT_ID_HEADER: alert_id,
        }
        async with session.post(
            url, data=body, headers=headers, allow_redirects=False, timeout=self.timeout
        ) as resp:
            await resp.content.read(BODY_READ_MAX)  # so the connection can be kept
            return Response(resp.status)

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()
