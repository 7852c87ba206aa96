"""Token buckets keyed by client, and who the client is behind a proxy.

One :class:`TokenBuckets` per limit (the API's per address and per key, the gateway's
calls per address and records per key). A bucket holds up to ``burst`` tokens and gains
``per_s`` a second; a request takes one (a gateway batch one per record). Each check is
O(1) and never awaits, so it needs no lock on the event loop. Buckets live in a bounded
:class:`cachetools.TTLCache`: an idle bucket is full again after ``burst / per_s`` seconds,
so it can be forgotten then, and a client rotating addresses cannot grow memory past
``max_clients`` (the least recently used are dropped first).

Why not a library: Litestar's ``RateLimitConfig`` is a fixed window keyed by address
(no API keys, a store round trip per request); ``limits`` has windows, not a token bucket,
and its memory storage runs a timer thread. Limits are per process: with
``JOBSTREAM_API_WORKERS=N`` a client may get up to N times the rate.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

from cachetools import TTLCache

RATE_FORMAT = (
    "'<n>/s', '<n>/min' or '<n>/h', optionally ' burst <m>' (e.g. '50/s burst 100'), or 'off'"
)
_RATE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*(?:burst\s+(\d+))?\s*$",
    re.IGNORECASE,
)
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_OFF = {"off", "none", "0", ""}


class Rate(NamedTuple):
    """``per_s`` tokens a second, at most ``burst`` saved up."""

    per_s: float
    burst: int

    def __str__(self) -> str:
        return f"{self.per_s:g}/s burst {self.burst}"


def parse_rate(text: str) -> Rate | None:
    """``'50/s burst 100'`` -> Rate(50, 100); ``'off'`` -> None; ValueError otherwise.

    Without ``burst`` the burst is one unit's worth (``'600/min'``: 600)."""
    if text.strip().lower() in _OFF:
        return None
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"expected {RATE_FORMAT}")
    count, unit, burst = float(match[1]), match[2].lower(), match[3]
    if count <= 0:
        raise ValueError(f"the rate must be > 0 (or 'off'); expected {RATE_FORMAT}")
    size = int(burst) if burst is not None else max(1, math.ceil(count))
    if size < 1:
        raise ValueError("the burst must be >= 1")
    return Rate(count / _PER[unit], size)


class TokenBuckets:
    """One token bucket per key; see the module docstring."""

    __slots__ = ("_buckets", "_clock", "burst", "per_s")

    def __init__(
        self, rate: Rate, *, max_clients: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_s = rate.per_s
        self.burst = float(rate.burst)
        self._clock = clock
        self._buckets: TTLCache[str, tuple[float, float]] = TTLCache(
            maxsize=max_clients, ttl=rate.burst / rate.per_s, timer=clock
        )

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: str, now: float) -> float:
        held = self._buckets.get(key)
        if held is None:
            return self.burst
        tokens, stamp = held
        return min(self.burst, tokens + (now - stamp) * self.per_s)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens if there are: 0.0; else take none and return the seconds
        until there will be (what Retry-After says). A cost above the burst counts as the
        burst, so it is possible at all."""
        now = self._clock()
        tokens = self._tokens(key, now)
        cost = min(cost, self.burst)
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)  # re-set: an active client's bucket stays
        return (cost - tokens) / self.per_s

    def reserve(self, key: str, cost: float) -> float:
        """Take ``cost`` tokens now, going into debt if needed, and return how long the
        caller must wait before acting (pacing: a stream slows down instead of failing)."""
        now = self._clock()
        tokens = self._tokens(key, now) - cost
        self._buckets[key] = (tokens, now)
        return 0.0 if tokens >= 0 else -tokens / self.per_s


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1 (HTTP allows no fractions)."""
    return str(max(1, math.ceil(seconds)))


class TrustedProxies:
    """Who the client is: the direct peer, unless the peer is a trusted proxy; then the
    right-most ``X-Forwarded-For`` hop that is not a trusted proxy (a client can prepend
    anything, so hops left of an untrusted one are never believed)."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def _trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address as a bucket key (IPv6 by its /64: one subscriber)."""
        host = peer
        if self._networks and forwarded_for and self._trusted(peer):
            hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
            host = next(
                (h for h in reversed(hops) if not self._trusted(h)), hops[0] if hops else peer
            )
        return subscriber(host)


def subscriber(host: str) -> str:
    """An IPv6 address as its /64 (one customer usually holds a whole /64, so keying by
    the full address would let it rotate through 2^64 buckets); anything else unchanged."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.strip("[]"))
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


def grpc_peer_host(peer: str) -> str:
    """The host of a gRPC peer string: ``ipv4:1.2.3.4:5`` -> ``1.2.3.4``,
    ``ipv6:[::1]:5`` -> ``::1``; other forms (unix sockets) unchanged."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer
