"""Rate limits and stream limits on the real stack: the API over a real socket (two client
addresses: 127.0.0.1 and 127.0.0.2 are both loopback), the gateway in-process.

The session stack runs without rate limits (tests/support/provision.py); each test here
turns on the limit it checks.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import httpx
import pytest
import uvicorn
from grpc import aio

from api.app import create_app
from gateway.client import IngestClient
from gateway.server import Gateway
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc, posting_pb2
from schemas.ratelimit import parse_rate
from schemas.settings import Settings
from tests.integration.test_query_limits import BY_IDS, postings_locked, waiting_api_queries
from tests.support.api import wait_until
from tests.support.gateway import (
    TopicWatch,
    private_topics,
    running_gateway,
    sample_event,
    written,
)
from tests.support.provision import PUBLISH_HEADERS, PUBLISH_METADATA, PUBLISH_TOKEN, free_port

pytestmark = pytest.mark.integration

TYPENAME = {"query": "{ __typename }"}


def uid() -> str:
    return uuid.uuid4().hex[:10]


# --- the API ------------------------------------------------------------------------------


@asynccontextmanager
async def served_api(stack: Settings, **overrides: Any) -> AsyncIterator[str]:
    """The API app under uvicorn on a free port of 127.0.0.1; yields its base URL."""
    values: dict[str, Any] = {
        "api_port": free_port(),
        "embedder": "hash",
        "api_rate_limit_per_address": None,
        "api_rate_limit_per_key": None,
        "api_max_inflight_per_address": 0,
        "api_max_inflight_per_key": 0,
        "api_refusal_delay_s": 0.0,
    }
    values.update(overrides)
    settings = Settings(**{**stack.model_dump(), **values})
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.api_port,
        lifespan="on",
        log_level="warning",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert not task.done(), "the API did not start"
            assert time.monotonic() < deadline, "the API did not start within 60 s"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{settings.api_port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def client_from(address: str) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``address`` (a loopback address)."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address))


async def test_an_address_over_its_rate_gets_429_while_another_is_served(
    stack: Settings,
) -> None:
    async with (
        served_api(stack, api_rate_limit_per_address=parse_rate("1/s burst 3")) as base,
        client_from("127.0.0.1") as first,
        client_from("127.0.0.2") as second,
    ):
        for _ in range(3):
            assert (await first.post(f"{base}/graphql", json=TYPENAME)).status_code == 200
        refused = await first.post(f"{base}/graphql", json=TYPENAME)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        [error] = refused.json()["errors"]
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
        assert "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS" in error["message"]
        page = await first.get(f"{base}/")  # the web pages share the address's bucket
        assert page.status_code == 429
        assert "retry after" in page.text
        assert (await first.get(f"{base}/health")).status_code != 429  # exempt
        # another client address is served meanwhile
        assert (await second.post(f"{base}/graphql", json=TYPENAME)).status_code == 200
        await asyncio.sleep(1.1)  # one token back
        assert (await first.post(f"{base}/graphql", json=TYPENAME)).status_code == 200


async def test_a_key_has_its_own_bucket_and_a_wrong_key_counts_as_its_address(
    stack: Settings,
) -> None:
    async with (
        served_api(
            stack,
            api_rate_limit_per_address=parse_rate("1/min burst 2"),
            api_rate_limit_per_key=parse_rate("1/min burst 3"),
        ) as base,
        client_from("127.0.0.1") as client,
    ):
        url = f"{base}/graphql"
        wrong = {"authorization": "Bearer jsk_0123456789ab_not-the-secret"}
        assert (await client.post(url, json=TYPENAME, headers=wrong)).status_code == 200
        assert (await client.post(url, json=TYPENAME)).status_code == 200
        assert (await client.post(url, json=TYPENAME, headers=wrong)).status_code == 429
        for _ in range(3):  # the address is spent; the key is not
            response = await client.post(url, json=TYPENAME, headers=PUBLISH_HEADERS)
            assert response.status_code == 200
        refused = await client.post(url, json=TYPENAME, headers=PUBLISH_HEADERS)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 1
        message = refused.json()["errors"][0]["message"]
        assert "JOBSTREAM_API_RATE_LIMIT_PER_KEY" in message
        assert PUBLISH_TOKEN not in message


async def test_forwarded_for_names_the_client_only_behind_a_trusted_proxy(
    stack: Settings,
) -> None:
    async with (
        served_api(
            stack,
            api_rate_limit_per_address=parse_rate("1/min burst 1"),
            trusted_proxies=("127.0.0.1",),
        ) as base,
        client_from("127.0.0.1") as proxy,
        client_from("127.0.0.2") as stranger,
    ):
        url = f"{base}/graphql"

        async def status(client: httpx.AsyncClient, forwarded: str) -> int:
            response = await client.post(url, json=TYPENAME, headers={"x-forwarded-for": forwarded})
            return response.status_code

        assert await status(proxy, "198.51.100.1") == 200
        assert await status(proxy, "198.51.100.1") == 429
        assert await status(proxy, "198.51.100.2") == 200  # another client behind the proxy
        assert await status(proxy, "198.51.100.9, 198.51.100.1") == 429  # a prepended hop
        # not a trusted proxy: its header is ignored, the peer is the client
        assert await status(stranger, "203.0.113.1") == 200
        assert await status(stranger, "203.0.113.2") == 429


# Cost 11 (one token) and cost 1,201 (12 tokens at the default 100 a token).
CHEAP = {"query": '{ search(query: "python", first: 5) { edges { node { id } } } }'}
COSTLY = {
    "query": '{ search(query: "python", first: 100) { edges { node { id '
    "similar(first: 5) { node { id } } } } } }"
}


async def test_costly_operations_drain_the_bucket_faster_than_cheap_ones(
    stack: Settings,
) -> None:
    async with (
        served_api(stack, api_rate_limit_per_address=parse_rate("1/min burst 30")) as base,
        client_from("127.0.0.1") as costly,
        client_from("127.0.0.2") as cheap,
    ):
        url = f"{base}/graphql"
        for _ in range(2):  # 2 x 12 of the 30 tokens
            answer = await costly.post(url, json=COSTLY)
            assert answer.status_code == 200, answer.text
            assert answer.json()["extensions"]["cost"]["requested"] == 1201
        refused = await costly.post(url, json=COSTLY)  # 6 left: refused before it runs
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) > 1
        [error] = refused.json()["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
        assert "cost 1,201" in error["message"]
        assert "JOBSTREAM_QUERY_COST_PER_TOKEN" in error["message"]
        assert "JOBSTREAM_API_RATE_LIMIT_PER_ADDRESS" in error["message"]
        assert refused.json().get("data") is None
        # what is left still buys cheap operations, one token each
        assert (await costly.post(url, json=CHEAP)).status_code == 200
        # the same bucket size buys another address 30 cheap operations
        for i in range(30):
            answer = await cheap.post(url, json=CHEAP)
            assert answer.status_code == 200, (i, answer.text)
            assert answer.json()["extensions"]["cost"]["requested"] == 11
        assert (await cheap.post(url, json=CHEAP)).status_code == 429


async def test_a_client_over_its_in_flight_cap_gets_429_while_another_is_served(
    stack: Settings,
) -> None:
    """Four slow requests of one address (their reads wait on a locked table) hold its
    slots: the fifth is refused at once, another address is served, and the slots come
    back when the four end."""
    async with (
        served_api(stack, api_max_inflight_per_address=4, api_statement_timeout_s=30.0) as base,
        client_from("127.0.0.1") as busy,
        client_from("127.0.0.2") as other,
    ):
        url = f"{base}/graphql"

        def lookup() -> dict[str, Any]:
            return {"query": BY_IDS, "variables": {"id": f"probe-{uuid.uuid4().hex}"}}

        async with postings_locked(stack):
            slow = [
                asyncio.create_task(busy.post(url, json=lookup(), timeout=30)) for _ in range(4)
            ]
            await wait_until(
                lambda: _at_least(stack, 4), timeout=15, what="four lookups waiting in PostgreSQL"
            )
            started = time.monotonic()
            refused = await busy.post(url, json=lookup())
            assert time.monotonic() - started < 1.0  # refused at once, not queued
            assert refused.status_code == 429, refused.text
            assert refused.headers["retry-after"] == "1"
            [error] = refused.json()["errors"]
            assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
            assert "JOBSTREAM_API_MAX_INFLIGHT_PER_ADDRESS" in error["message"]
            page = await busy.get(f"{base}/")  # pages count in the same slots
            assert page.status_code == 429
            served = await other.post(url, json=TYPENAME)
            assert served.status_code == 200, served.text
        for answer in await asyncio.wait_for(asyncio.gather(*slow), 30):
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"] == {"posting": None}
        assert (await busy.post(url, json=lookup())).status_code == 200


async def test_a_refusal_waits_out_its_retry_after_so_ignoring_it_gains_nothing(
    stack: Settings,
) -> None:
    async with (
        served_api(
            stack,
            api_rate_limit_per_address=parse_rate("1/min burst 1"),
            api_refusal_delay_s=0.5,
        ) as base,
        client_from("127.0.0.1") as hasty,
        client_from("127.0.0.2") as other,
    ):
        url = f"{base}/graphql"
        assert (await hasty.post(url, json=TYPENAME)).status_code == 200
        started = time.monotonic()
        refused = await asyncio.gather(*(hasty.post(url, json=TYPENAME) for _ in range(5)))
        assert time.monotonic() - started >= 0.5  # Retry-After 60 s, the delay at most 0.5 s
        assert [r.status_code for r in refused] == [429] * 5
        assert refused[0].headers["retry-after"] == "60"
        started = time.monotonic()
        assert (await other.post(url, json=TYPENAME)).status_code == 200  # others: no wait
        assert time.monotonic() - started < 0.5


async def _at_least(stack: Settings, n: int) -> bool:
    return await waiting_api_queries(stack) >= n


# --- the gateway --------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def gw_stack(stack: Settings) -> Settings:
    return await private_topics(stack)


def events(prefix: str, n: int, start: int = 0) -> list[posting_pb2.PostingEvent]:
    out = []
    for i in range(start, start + n):
        event = sample_event(i)
        event.id = f"{prefix}:{i}"
        out.append(event)
    return out


def metadata(producer_id: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("x-producer-id", producer_id), *PUBLISH_METADATA, *extra)


async def resume(gw: Gateway, *extra: tuple[str, str]) -> grpc.StatusCode | None:
    async with aio.insecure_channel(gw.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        try:
            await stub.Resume(ingest_pb2.ResumeRequest(), metadata=metadata(f"r-{uid()}", *extra))
        except aio.AioRpcError as exc:
            return exc.code()
    return None


async def test_calls_over_an_address_rate_get_resource_exhausted_with_retry_after(
    gw_stack: Settings,
) -> None:
    async with running_gateway(
        gw_stack,
        gateway_port=free_port(),
        gateway_call_rate_per_address=parse_rate("1/min burst 2"),
        trusted_proxies=("127.0.0.1",),
    ) as gw:
        a = ("x-forwarded-for", "198.51.100.1")
        assert await resume(gw, a) is None
        assert await resume(gw, a) is None
        async with aio.insecure_channel(gw.address) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            call = stub.Resume(ingest_pb2.ResumeRequest(), metadata=metadata(f"r-{uid()}", a))
            with pytest.raises(aio.AioRpcError) as refused:
                await call
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "JOBSTREAM_GATEWAY_CALL_RATE_PER_ADDRESS" in (refused.value.details() or "")
        trailers = dict(refused.value.trailing_metadata() or ())
        assert int(trailers["retry-after"]) > 1
        # a call the key check refuses counts too (no key here: refused for the rate)
        async with aio.insecure_channel(gw.address) as channel:
            stream = ingest_pb2_grpc.IngestServiceStub(channel).Ingest(
                iter([]), metadata=(("x-producer-id", "p"), a)
            )
            with pytest.raises(aio.AioRpcError) as also:
                [_ async for _ in stream]
        assert also.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # another client address is served meanwhile
        assert await resume(gw, ("x-forwarded-for", "198.51.100.2")) is None


class OpenStream:
    """An Ingest stream held open: one batch sent and acked, then nothing."""

    def __init__(self, gw: Gateway, producer_id: str, prefix: str) -> None:
        self.channel = aio.insecure_channel(gw.address)
        self.queue: asyncio.Queue[ingest_pb2.IngestBatch | None] = asyncio.Queue()
        self.call = ingest_pb2_grpc.IngestServiceStub(self.channel).Ingest(
            self._requests(), metadata=metadata(producer_id)
        )
        self.prefix = prefix

    async def _requests(self) -> AsyncIterator[ingest_pb2.IngestBatch]:
        while (item := await self.queue.get()) is not None:
            yield item

    async def open(self) -> OpenStream:
        self.queue.put_nowait(ingest_pb2.IngestBatch(sequence=1, postings=events(self.prefix, 1)))
        ack = await self.call.read()
        assert ack.sequence == 1
        return self

    async def close(self) -> None:
        self.queue.put_nowait(None)
        self.call.cancel()
        await self.channel.close()


@pytest.mark.parametrize(
    "limits",
    [
        {"gateway_max_streams_per_key": 2},
        {"gateway_max_streams_total": 2},
    ],
)
async def test_concurrent_streams_are_limited_per_key_and_in_all(
    gw_stack: Settings, limits: dict[str, int]
) -> None:
    p = uid()
    async with running_gateway(gw_stack, gateway_port=free_port(), **limits) as gw:
        first = await OpenStream(gw, f"s1-{p}", f"{p}a").open()
        second = await OpenStream(gw, f"s2-{p}", f"{p}b").open()
        third = OpenStream(gw, f"s3-{p}", f"{p}c")
        with pytest.raises(aio.AioRpcError) as refused:
            await third.open()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        setting = "PER_KEY" if "gateway_max_streams_per_key" in limits else "TOTAL"
        assert f"JOBSTREAM_GATEWAY_MAX_STREAMS_{setting}" in (refused.value.details() or "")
        await third.close()
        # the same producer id reconnecting takes over its own stream beyond the limit
        again = await OpenStream(gw, f"s1-{p}", f"{p}d").open()
        await first.close()
        await second.close()
        await again.close()
        fourth = await OpenStream(gw, f"s4-{p}", f"{p}e").open()  # slots came back
        await fourth.close()


async def test_an_idle_stream_is_closed_with_a_clear_status(gw_stack: Settings) -> None:
    p = uid()
    async with running_gateway(gw_stack, gateway_port=free_port(), gateway_stream_idle_s=1.0) as gw:
        stream = await OpenStream(gw, f"idle-{p}", p).open()
        started = time.monotonic()
        with pytest.raises(aio.AioRpcError) as closed:
            await asyncio.wait_for(stream.call.read(), 10)
        assert time.monotonic() - started < 5
        assert closed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "JOBSTREAM_GATEWAY_STREAM_IDLE_S" in (closed.value.details() or "")
        await stream.close()
        assert not gw.service.sessions


async def test_a_client_pinging_too_often_is_sent_away(gw_stack: Settings) -> None:
    """Keepalive enforcement: pings faster than the server permits get GOAWAY
    (too_many_pings) instead of an answer each."""
    p = uid()
    async with running_gateway(gw_stack, gateway_port=free_port()) as gw:
        options = [
            ("grpc.keepalive_time_ms", 100),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        channel = aio.insecure_channel(gw.address, options=options)
        queue: asyncio.Queue[ingest_pb2.IngestBatch | None] = asyncio.Queue()

        async def requests() -> AsyncIterator[ingest_pb2.IngestBatch]:
            while (item := await queue.get()) is not None:
                yield item

        call = ingest_pb2_grpc.IngestServiceStub(channel).Ingest(
            requests(), metadata=metadata(f"ping-{p}")
        )
        queue.put_nowait(ingest_pb2.IngestBatch(sequence=1, postings=events(p, 1)))
        assert (await call.read()).sequence == 1
        with pytest.raises(aio.AioRpcError) as ended:
            await asyncio.wait_for(call.read(), 20)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "ping" in (ended.value.details() or "").lower()
        queue.put_nowait(None)
        await channel.close()


async def test_a_stream_over_its_byte_budget_waits_and_nothing_is_lost(
    gw_stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Kafka stalled, a stream reads at most its byte budget (the record budget is
    far away); once Kafka moves every posting lands once."""
    p = uid()
    batch_bytes = ingest_pb2.IngestBatch(sequence=1, postings=events(p, 5)).ByteSize()
    async with running_gateway(
        gw_stack, gateway_port=free_port(), max_inflight_bytes_per_stream=2 * batch_bytes + 10
    ) as gw:
        watch = await TopicWatch(gw_stack, gw_stack.topic_postings).mark()
        kafka_moves = asyncio.Event()
        real_enqueue = gw.writer.enqueue

        async def stalled(records: list[tuple[str, bytes]], producer_id: str) -> object:
            await kafka_moves.wait()
            return await real_enqueue(records, producer_id)

        monkeypatch.setattr(gw.writer, "enqueue", stalled)
        client = IngestClient(gw.address, producer_id=f"bytes-{p}", window=100, token=PUBLISH_TOKEN)

        async def produce() -> None:
            async with client:
                for s in range(10):
                    await client.send(events(p, 5, start=5 * s))

        task = asyncio.create_task(produce())
        await asyncio.sleep(1.5)
        [session] = list(gw.service.sessions)
        assert session.bytes.in_use <= 2 * batch_bytes + 10
        assert session.high == 2  # two batches admitted; the bytes hold the third back
        kafka_moves.set()
        await asyncio.wait_for(task, 30)
        assert session.bytes.in_use == 0
        assert gw.service.total_bytes.in_use == 0
        ids = [w.id for w in await written(watch, p)]
        assert sorted(ids) == sorted(f"{p}:{i}" for i in range(50))


async def test_a_key_over_its_record_rate_is_slowed_not_refused(gw_stack: Settings) -> None:
    p = uid()
    async with running_gateway(
        gw_stack,
        gateway_port=free_port(),
        gateway_record_rate_per_key=parse_rate("100/s burst 100"),
    ) as gw:
        watch = await TopicWatch(gw_stack, gw_stack.topic_postings).mark()
        client = IngestClient(gw.address, producer_id=f"rate-{p}", window=8, token=PUBLISH_TOKEN)
        started = time.monotonic()
        async with client:
            for s in range(4):
                await client.send(events(p, 50, start=50 * s))
        elapsed = time.monotonic() - started
        assert elapsed >= 0.9  # 200 records at 100/s after a burst of 100
        assert client.reconnects == 0
        ids = [w.id for w in await written(watch, p)]
        assert sorted(ids) == sorted(f"{p}:{i}" for i in range(200))
