"""Token buckets, rate settings and client addresses (schemas.ratelimit), no stack."""

from __future__ import annotations

import time
from typing import Any

import pytest

from api.ratelimit import CLIENT_STATE, RateLimiter
from schemas.ratelimit import (
    Rate,
    TokenBuckets,
    TrustedProxies,
    grpc_peer_host,
    parse_rate,
    retry_after,
    subscriber,
)
from schemas.settings import SettingsError, load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("50/s burst 100", Rate(50, 100)),
        ("600/min", Rate(10, 600)),
        (" 3600 / h  burst 5 ", Rate(1, 5)),
        ("0.5/s", Rate(0.5, 1)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_rates_parse(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["lots", "10", "10/day", "-1/s", "0/s", "5/s burst 0", "5/s x"])
def test_bad_rates_say_the_format(text: str) -> None:
    with pytest.raises(ValueError, match="burst"):
        parse_rate(text)


def test_rate_settings_name_the_variable() -> None:
    settings = load_settings(api_rate_limit_per_key="5/s burst 7", trusted_proxies="10.0.0.0/8")
    assert settings.api_rate_limit_per_key == Rate(5, 7)
    assert settings.trusted_proxies == ("10.0.0.0/8",)
    assert load_settings(gateway_call_rate_per_address="off").gateway_call_rate_per_address is None
    with pytest.raises(SettingsError, match="JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS"):
        load_settings(api_rate_limit_per_address="many")
    with pytest.raises(SettingsError, match="JOBSTREAM_TRUSTED_PROXIES"):
        load_settings(trusted_proxies="proxy.local")


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(2, 3), max_clients=100, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # the next token in half a second
    assert buckets.take("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 100
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, no more


def test_a_refused_request_takes_nothing_and_a_big_cost_counts_as_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(1, 2), max_clients=100, clock=clock)
    assert buckets.take("a", 10) == 0.0  # clamped to the burst: possible at all
    for _ in range(5):
        assert buckets.take("a") == pytest.approx(1.0)  # refusals do not dig deeper
    clock.now += 1
    assert buckets.take("a") == 0.0


def test_reserve_paces_by_going_into_debt() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(100, 100), max_clients=100, clock=clock)
    assert buckets.reserve("k", 100) == 0.0
    assert buckets.reserve("k", 50) == pytest.approx(0.5)
    assert buckets.reserve("k", 50) == pytest.approx(1.0)  # queued behind the first
    clock.now += 1.0
    assert buckets.reserve("k", 0) == 0.0


def test_rotating_clients_cannot_grow_memory_past_the_bound() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(1, 1), max_clients=100, clock=clock)
    for i in range(10_000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets) <= 100
    clock.now += 2  # full again after burst / rate seconds: forgotten
    buckets.take("x")
    assert len(buckets) == 1


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(1.2) == "2"


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    none = TrustedProxies(())
    assert none.client("203.0.113.9", "198.51.100.1") == "203.0.113.9"
    proxies = TrustedProxies(["10.0.0.0/8"])
    assert proxies.client("203.0.113.9", "198.51.100.1") == "203.0.113.9"  # not a proxy
    assert proxies.client("10.1.2.3", "198.51.100.1") == "198.51.100.1"
    # a client prepending a fake hop does not escape: the right-most untrusted hop counts
    assert proxies.client("10.1.2.3", "1.1.1.1, 198.51.100.1, 10.9.9.9") == "198.51.100.1"
    assert proxies.client("10.1.2.3", None) == "10.1.2.3"


def test_ipv6_clients_are_keyed_by_their_64() -> None:
    assert subscriber("2001:db8:1:2:aaaa::1") == subscriber("2001:db8:1:2:bbbb::2")
    assert subscriber("2001:db8:1:2::1") != subscriber("2001:db8:1:3::1")
    assert subscriber("::ffff:192.0.2.1") == "192.0.2.1"
    assert subscriber("192.0.2.1") == "192.0.2.1"
    assert subscriber("testclient") == "testclient"


def test_grpc_peer_hosts() -> None:
    assert grpc_peer_host("ipv4:127.0.0.1:5555") == "127.0.0.1"
    assert grpc_peer_host("ipv6:[::1]:5555") == "::1"
    assert grpc_peer_host("unix:/tmp/s") == "unix:/tmp/s"


# --- the API's limiter (api.ratelimit): cost-weighted tokens and in-flight slots ---------


def scope_from(address: str) -> dict[str, Any]:
    return {"type": "http", "path": "/graphql", "client": (address, 5), "headers": []}


def test_an_operation_pays_for_its_cost_beyond_the_requests_token() -> None:
    limiter = RateLimiter(
        load_settings(api_rate_limit_per_address="1/h burst 30", query_cost_per_token=100)
    )
    scope = scope_from("203.0.113.7")
    client = limiter.client(scope)  # type: ignore[arg-type]  # an ASGI scope dict
    assert limiter.charge(scope, 5000) is None  # type: ignore[arg-type]  # outside a request
    scope["state"] = {CLIENT_STATE: client}
    buckets = client.limits.buckets
    assert buckets is not None
    assert limiter.take(client, 1.0) is None  # what the middleware takes
    assert limiter.charge(scope, 100) is None  # type: ignore[arg-type]  # cheap: that one
    assert buckets._tokens(client.id, time.monotonic()) == pytest.approx(29, abs=0.01)
    assert limiter.charge(scope, 1201) is None  # type: ignore[arg-type]  # 11.01 more
    assert buckets._tokens(client.id, time.monotonic()) == pytest.approx(17.99, abs=0.01)
    assert limiter.charge(scope, 1201) is None  # type: ignore[arg-type]
    refusal = limiter.charge(scope, 1201)  # type: ignore[arg-type]  # 7 left, 11 wanted
    assert refusal is not None
    assert refusal.retry_after_s > 60
    assert "cost 1,201" in refusal.message
    assert "JOBSTREAM_QUERY_COST_PER_TOKEN" in refusal.message
    assert "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS" in refusal.message
    assert buckets._tokens(client.id, time.monotonic()) == pytest.approx(6.98, abs=0.01)


def test_in_flight_slots_are_per_client_and_come_back() -> None:
    limiter = RateLimiter(load_settings(api_max_inflight_per_address=2))
    a = limiter.client(scope_from("203.0.113.7"))  # type: ignore[arg-type]  # scope dict
    b = limiter.client(scope_from("203.0.113.8"))  # type: ignore[arg-type]  # scope dict
    assert limiter.enter(a) is None
    assert limiter.enter(a) is None
    refusal = limiter.enter(a)
    assert refusal is not None
    assert "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS" in refusal.message
    assert limiter.enter(b) is None  # another client has its own slots
    limiter.leave(a)
    assert limiter.enter(a) is None
    for client in (a, a, b):
        limiter.leave(client)
    assert not limiter.inflight  # idle clients hold no memory
    unlimited = RateLimiter(load_settings(api_max_inflight_per_address=0))
    c = unlimited.client(scope_from("203.0.113.7"))  # type: ignore[arg-type]  # scope dict
    assert all(unlimited.enter(c) is None for _ in range(100))
