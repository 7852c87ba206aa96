"""Alert webhooks: the signature every receiver checks and where a webhook may be sent.

Shared by the sender (streams/alerts/delivery), the tests' receivers and anyone
validating a saved search's URL. A saved search's URL is attacker-controlled, so the
address rule is applied to every address a name resolves to at send time, not only to
the URL's text when it was saved (a name can be re-pointed at an internal address).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-JobStream-Signature"
ALERT_ID_HEADER = "X-JobStream-Alert-Id"
MAX_AGE_S = 300  # receivers reject a signature older than this (replays)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float | None = None, max_age_s: int = MAX_AGE_S
) -> bool:
    """What a receiver does: the MAC matches (constant time) and ``t`` is fresh."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > max_age_s:
        return False
    expected = signature(secret, timestamp, body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def address_refusal(address: IPAddress, scheme: str) -> str | None:
    """Why a webhook may not go to this address, or None. Loopback is always allowed (a
    local receiver); plain http only to loopback; never private, link-local, multicast,
    reserved, shared (CGNAT) or unspecified addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None
    if scheme != "https":
        return f"http:// is only allowed to a loopback address, not {address}"
    if (
        address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address in ipaddress.ip_network("100.64.0.0/10")
        or not address.is_global
    ):
        return f"{address} is a private, link-local or reserved address"
    return None


def url_refusal(url: str) -> str | None:
    """Why this URL may not receive webhooks (syntax, scheme, credentials, an IP-literal
    host's address), or None. A host name is checked again per resolved address."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("https", "http") or not host:
        return "not an http(s):// URL with a host"
    if parts.username is not None or parts.password is not None:
        return "the URL carries credentials"
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return address_refusal(literal, parts.scheme)
    if parts.scheme == "http" and host.lower() not in ("localhost", "localhost."):
        return "http:// is only allowed to a loopback address"
    return None
