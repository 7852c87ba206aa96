"""The ingest gateway against the real Kafka: acks, rejections, limits, auth, health.

Each test starts its own in-process gateway on a free port and uses its own producer id
and posting-id prefix, so tests share the session's Kafka without seeing each other.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from aiokafka.errors import KafkaTimeoutError
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import SecretStr

from gateway.client import IngestClient
from gateway.sequences import Claim
from gateway.server import Gateway
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc, posting_pb2
from schemas.settings import Settings
from tests.support.gateway import (
    TopicWatch,
    private_topics,
    running_gateway,
    sample_event,
    written,
)
from tests.support.provision import PUBLISH_METADATA, PUBLISH_TOKEN, free_port

pytestmark = pytest.mark.integration


def uid() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
async def gw_stack(stack: Settings) -> Settings:
    """The session gw_stack with a private postings topic (6 partitions) for these tests."""
    return await private_topics(stack)


@pytest.fixture
async def gateway(gw_stack: Settings) -> AsyncIterator[Gateway]:
    """A gateway with the default record layout (packs)."""
    async with running_gateway(gw_stack, gateway_port=free_port()) as gw:
        yield gw


@pytest.fixture(params=["pack", "event"])
async def any_gateway(gw_stack: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    """One gateway per record layout."""
    async with running_gateway(
        gw_stack, gateway_port=free_port(), record_format=request.param
    ) as gw:
        yield gw


@pytest.fixture
async def watch(gw_stack: Settings) -> TopicWatch:
    return await TopicWatch(gw_stack, gw_stack.topic_postings).mark()


def channel(gw: Gateway) -> aio.Channel:
    return aio.insecure_channel(gw.address)


async def ingest(
    gw: Gateway,
    batches: list[ingest_pb2.IngestBatch],
    *,
    producer_id: str | None = None,
    metadata: tuple[tuple[str, str], ...] = PUBLISH_METADATA,
) -> list[ingest_pb2.IngestAck]:
    """Send ``batches`` on one stream, half-close, and return every ack (``metadata``:
    the key, the stack's publish key by default)."""
    md = (("x-producer-id", producer_id or f"test-{uid()}"), *metadata)
    async with channel(gw) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        call = stub.Ingest(iter(batches), metadata=md)
        return [ack async for ack in call]


def batch(sequence: int, events: list[posting_pb2.PostingEvent]) -> ingest_pb2.IngestBatch:
    return ingest_pb2.IngestBatch(sequence=sequence, postings=events)


def events(prefix: str, n: int, start: int = 0) -> list[posting_pb2.PostingEvent]:
    out = []
    for i in range(start, start + n):
        msg = sample_event(i)
        msg.id = f"{prefix}:{i}"
        out.append(msg)
    return out


# --- a mixed batch ------------------------------------------------------------------------


async def test_mixed_batch_acks_each_record_and_writes_only_valid_ones(
    any_gateway: Gateway, watch: TopicWatch, gw_stack: Settings
) -> None:
    gateway = any_gateway
    p = uid()
    good = events(p, 3)
    bad_id = sample_event(10)
    bad_id.id = "bad id with spaces"
    bad_version = events(p, 1, start=11)[0]
    bad_version.version = 0
    too_long = events(p, 1, start=12)[0]
    too_long.body.title = "x" * 301
    zero_vec = events(p, 1, start=13)[0]
    zero_vec.body.embedding = b"\x00" * (4 * gw_stack.embedding_dim)
    nan_vec = events(p, 1, start=14)[0]
    nan_vec.body.embedding = bytes.fromhex("0000c07f") * gw_stack.embedding_dim
    short_vec = events(p, 1, start=15)[0]
    short_vec.body.embedding = b"\x00\x00\x80\x3f" * (gw_stack.embedding_dim - 1)
    unknown_enum = events(p, 1, start=16)[0]
    unknown_enum.body.remote_mode = 42  # type: ignore[assignment]
    no_body = posting_pb2.PostingEvent(id=f"{p}:17", version=1)
    delete = posting_pb2.PostingEvent(id=f"{p}:0", version=2, deleted=True)
    same_again = events(p, 1)[0]  # (id, version) already in this batch
    records = [
        good[0],
        bad_id,
        good[1],
        bad_version,
        too_long,
        zero_vec,
        nan_vec,
        short_vec,
        unknown_enum,
        no_body,
        good[2],
        delete,
        same_again,
    ]
    producer = f"mixed-{p}"
    [ack] = await ingest(gateway, [batch(1, records)], producer_id=producer)

    assert ack.sequence == 1
    assert not ack.duplicate
    assert list(ack.accepted_ids) == [f"{p}:0", f"{p}:1", f"{p}:2", f"{p}:0"]
    got = [(r.index, r.id, ingest_pb2.RejectReason.Name(r.reason)) for r in ack.rejections]
    assert got == [
        (1, "bad id with spaces", "INVALID_ID"),
        (3, f"{p}:11", "INVALID_VERSION"),
        (4, f"{p}:12", "TOO_LONG"),
        (5, f"{p}:13", "INVALID_EMBEDDING"),
        (6, f"{p}:14", "INVALID_EMBEDDING"),
        (7, f"{p}:15", "INVALID_EMBEDDING"),
        (8, f"{p}:16", "INVALID_FIELD"),
        (9, f"{p}:17", "MISSING_FIELD"),
        (12, f"{p}:0", "DUPLICATE_IN_BATCH"),
    ]
    assert all(r.message for r in ack.rejections)
    assert "title" in ack.rejections[2].message

    mine = await written(watch, p)
    assert sorted(w.id for w in mine) == sorted([f"{p}:0", f"{p}:0", f"{p}:1", f"{p}:2"])
    for w in mine:
        assert w.record.headers["producer-id"] == producer.encode()
        assert w.event.producer_id == producer
        assert w.event.produced_at is not None
    # Both events of posting :0 sit on one partition, the create before the delete.
    zero = [w for w in mine if w.id == f"{p}:0"]
    assert len({w.record.partition for w in zero}) == 1
    assert [(w.event.version, w.event.deleted) for w in zero] == [(1, False), (2, True)]


# --- volume -------------------------------------------------------------------------------


async def test_10k_postings_reach_kafka_exactly_once(
    any_gateway: Gateway, watch: TopicWatch
) -> None:
    gateway = any_gateway
    p = uid()
    acked: list[ingest_pb2.IngestAck] = []
    client = IngestClient(
        gateway.address,
        token=PUBLISH_TOKEN,
        producer_id=f"bulk-{p}",
        window=8,
        on_ack=lambda a, _: acked.append(a),
    )
    started = time.monotonic()
    async with client:
        for start in range(0, 10_000, 500):
            await client.send(events(p, 500, start=start))
    elapsed = time.monotonic() - started
    fmt = gateway.writer.record_format
    print(f"10k postings ({fmt}) through the gateway in {elapsed:.2f} s ({10_000 / elapsed:.0f}/s)")

    assert [a.sequence for a in acked] == list(range(1, 21))
    assert sum(len(a.accepted_ids) for a in acked) == 10_000
    assert not any(a.rejections for a in acked)
    ids = [w.id for w in await written(watch, p)]
    assert len(ids) == 10_000
    assert len(set(ids)) == 10_000


# --- sequences and resume -----------------------------------------------------------------


async def resume(
    gw: Gateway, producer_id: str, metadata: tuple[tuple[str, str], ...] = PUBLISH_METADATA
) -> int:
    async with channel(gw) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        response = await stub.Resume(
            ingest_pb2.ResumeRequest(), metadata=(("x-producer-id", producer_id), *metadata)
        )
        return int(response.last_acked_sequence)


async def test_resume_returns_last_acked_and_resent_batch_is_not_written_twice(
    gateway: Gateway, watch: TopicWatch
) -> None:
    p = uid()
    producer = f"resume-{p}"
    assert await resume(gateway, producer) == 0
    first = [batch(s, events(p, 10, start=10 * (s - 1))) for s in (1, 2, 3)]
    acks = await ingest(gateway, first, producer_id=producer)
    assert [a.sequence for a in acks] == [1, 2, 3]
    assert await resume(gateway, producer) == 3

    # Re-send 2 (its ack "was lost"), an unknown lower sequence, then new work.
    stray = batch(1, events(p, 5, start=900))  # below last acked: a duplicate, never written
    again = await ingest(
        gateway, [first[1], stray, batch(4, events(p, 10, start=30))], producer_id=producer
    )
    assert [(a.sequence, a.duplicate) for a in again] == [(2, True), (1, True), (4, False)]
    assert list(again[0].accepted_ids) == list(acks[1].accepted_ids)
    assert await resume(gateway, producer) == 4

    keys = [w.id for w in await written(watch, p)]
    assert len(keys) == 40
    assert len(set(keys)) == 40


async def test_sequence_survives_a_gateway_restart(gw_stack: Settings) -> None:
    p, port = uid(), free_port()
    producer = f"restart-{p}"
    async with running_gateway(gw_stack, gateway_port=port) as gw:
        await ingest(gw, [batch(7, events(p, 3))], producer_id=producer)
    async with running_gateway(gw_stack, gateway_port=port) as gw:
        assert await resume(gw, producer) == 7
        [ack] = await ingest(gw, [batch(7, events(p, 3))], producer_id=producer)
        assert ack.duplicate


async def test_pipelined_batches_are_acked_in_order(gateway: Gateway) -> None:
    p = uid()
    batches = [batch(s, events(p, 1 + (s * 37) % 50, start=1000 * s)) for s in range(1, 41)]
    acks = await ingest(gateway, batches, producer_id=f"pipe-{p}")
    assert [a.sequence for a in acks] == list(range(1, 41))
    assert [len(a.accepted_ids) for a in acks] == [len(b.postings) for b in batches]


async def test_empty_batch_is_acked(gateway: Gateway) -> None:
    [ack] = await ingest(gateway, [batch(1, [])])
    assert ack.sequence == 1
    assert not ack.accepted_ids
    assert not ack.rejections


async def test_a_newer_stream_for_the_same_producer_takes_over(gateway: Gateway) -> None:
    p = uid()
    producer = f"takeover-{p}"
    md = (("x-producer-id", producer), *PUBLISH_METADATA)
    async with channel(gateway) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        old = stub.Ingest(metadata=md)
        await old.write(batch(1, events(p, 2)))
        assert (await old.read()).sequence == 1
        new = stub.Ingest(metadata=md)
        await new.write(batch(2, events(p, 2, start=2)))
        assert (await new.read()).sequence == 2
        with pytest.raises(aio.AioRpcError) as info:
            await old.read()
        assert info.value.code() == grpc.StatusCode.ABORTED
        await new.done_writing()
        assert await new.code() == grpc.StatusCode.OK


async def test_a_stream_moved_to_another_gateway_instance_fences_the_first(
    gateway: Gateway, gw_stack: Settings
) -> None:
    """Two instances behind one address: the producer reconnects to the second while
    its stream on the first is still open (a half-open connection). The second claims
    the id through Kafka, resumes from what the first recorded, and the first can never
    ack again for it -- its next batch ends its stream ABORTED, and its sequence record
    is not seen by anyone."""
    p = uid()
    producer = f"moved-{p}"
    md = (("x-producer-id", producer), *PUBLISH_METADATA)
    async with (
        running_gateway(gw_stack, gateway_port=free_port()) as second,
        channel(gateway) as first_ch,
    ):
        old = ingest_pb2_grpc.IngestServiceStub(first_ch).Ingest(metadata=md)
        await old.write(batch(1, events(p, 2)))
        assert (await old.read()).sequence == 1

        again, fresh = await ingest(
            second, [batch(1, events(p, 2)), batch(2, events(p, 2, start=2))], producer_id=producer
        )
        assert again.duplicate, "the second instance resumed from the first's record"
        assert not fresh.duplicate

        await old.write(batch(3, events(p, 2, start=4)))
        with pytest.raises(aio.AioRpcError) as info:
            await old.read()
        assert info.value.code() == grpc.StatusCode.ABORTED
        assert "another gateway instance" in (info.value.details() or "")

        assert await resume(gateway, producer) == 2
        assert await resume(second, producer) == 2
        [third] = await ingest(second, [batch(3, events(p, 2, start=4))], producer_id=producer)
        assert not third.duplicate, "the fenced instance's batch 3 was never recorded"
        assert await resume(gateway, producer) == 3


# --- restarts during a produce run --------------------------------------------------------


async def test_gateway_restart_during_a_produce_run_writes_everything_once(
    gw_stack: Settings, watch: TopicWatch
) -> None:
    """A graceful restart (drain) leaves no crash window: every posting exactly once."""
    p, port = uid(), free_port()
    tenth = asyncio.Event()
    acked: list[ingest_pb2.IngestAck] = []

    def on_ack(ack: ingest_pb2.IngestAck, _: object) -> None:
        acked.append(ack)
        if len(acked) == 10:
            tenth.set()

    gw = Gateway(gw_stack.model_copy(update={"gateway_port": port}), metrics_server=False)
    await gw.start()
    client = IngestClient(
        gw.address, producer_id=f"run-{p}", window=6, on_ack=on_ack, token=PUBLISH_TOKEN
    )

    async def produce() -> None:
        async with client:
            for s in range(40):
                await client.send(events(p, 100, start=100 * s))

    task = asyncio.create_task(produce())
    await asyncio.wait_for(tenth.wait(), 30)
    await gw.stop(grace=5)  # in-flight batches are acked, the rest wait for the new one
    await asyncio.sleep(0.3)
    gw = Gateway(gw_stack.model_copy(update={"gateway_port": port}), metrics_server=False)
    await gw.start()
    try:
        await asyncio.wait_for(task, 60)
    finally:
        await gw.stop(grace=2)

    assert client.reconnects >= 1
    fresh = [a for a in acked if not a.duplicate]
    assert sorted(a.sequence for a in acked) == list(range(1, 41))
    assert (
        sum(len(a.accepted_ids) for a in fresh)
        + sum(len(a.accepted_ids) for a in acked if a.duplicate)
        == 4000
    )
    keys = [w.id for w in await written(watch, p)]
    assert len(keys) == 4000
    assert len(set(keys)) == 4000


async def test_crash_window_duplicates_a_batch_but_loses_nothing(
    gateway: Gateway, watch: TopicWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postings acked by Kafka but the sequence record lost (the process "dies" in
    between): the producer re-sends, the batch is written again -- a duplicate the sink's
    version rules absorb -- and nothing is lost."""
    p = uid()
    real_record = Claim.record
    calls = 0

    async def flaky_record(claim: Claim, sequence: int, owner_key_id: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionError("simulated crash before the sequence record")
        await real_record(claim, sequence, owner_key_id)

    monkeypatch.setattr(Claim, "record", flaky_record)
    acked: list[ingest_pb2.IngestAck] = []
    client = IngestClient(
        gateway.address,
        token=PUBLISH_TOKEN,
        producer_id=f"crash-{p}",
        window=1,
        on_ack=lambda a, _: acked.append(a),
    )
    async with client:
        for s in range(5):
            await client.send(events(p, 10, start=10 * s))
    assert client.reconnects == 1
    assert [a.sequence for a in acked] == [1, 2, 3, 4, 5]
    keys = [w.id for w in await written(watch, p)]
    assert len(set(keys)) == 50
    twice = sorted(k for k in set(keys) if keys.count(k) == 2)
    assert twice == sorted(f"{p}:{i}" for i in range(20, 30))
    assert len(keys) == 60


# --- auth ---------------------------------------------------------------------------------


async def test_token_is_required_when_configured(gw_stack: Settings) -> None:
    async with running_gateway(
        gw_stack, gateway_port=free_port(), ingest_token=SecretStr("s3cret-token")
    ) as gw:
        for metadata in (
            (),
            (("authorization", "Bearer wrong"),),
            (("authorization", "s3cret-token"),),
        ):
            with pytest.raises(aio.AioRpcError) as info:
                await ingest(gw, [batch(1, events(uid(), 1))], metadata=metadata)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(aio.AioRpcError) as info:
            await resume(gw, "nobody")
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED

        [ack] = await ingest(
            gw, [batch(1, events(uid(), 2))], metadata=(("authorization", "Bearer s3cret-token"),)
        )
        assert len(ack.accepted_ids) == 2
        assert await health(gw) == health_pb2.HealthCheckResponse.SERVING  # open without token


# --- limits -------------------------------------------------------------------------------


async def collect(
    call: AsyncIterator[ingest_pb2.IngestAck], into: list[ingest_pb2.IngestAck]
) -> None:
    async for ack in call:
        into.append(ack)


async def expect_status(
    gw: Gateway, batches: list[ingest_pb2.IngestBatch], producer_id: str | None = None
) -> tuple[grpc.StatusCode, str, list[ingest_pb2.IngestAck]]:
    md = (("x-producer-id", producer_id or f"limits-{uid()}"), *PUBLISH_METADATA)
    acks: list[ingest_pb2.IngestAck] = []
    async with channel(gw) as ch:
        call = ingest_pb2_grpc.IngestServiceStub(ch).Ingest(iter(batches), metadata=md)
        with pytest.raises(aio.AioRpcError) as info:
            await collect(call, acks)
    return info.value.code(), info.value.details() or "", acks


async def test_limits_are_invalid_argument_or_resource_exhausted(gw_stack: Settings) -> None:
    async with running_gateway(
        gw_stack, gateway_port=free_port(), max_batch_records=5, max_message_bytes=64 * 1024
    ) as gw:
        p = uid()
        code, details, acks = await expect_status(
            gw, [batch(1, events(p, 5)), batch(2, events(p, 6, start=5))]
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "limit is 5" in details
        assert "JOBSTREAM_MAX_BATCH_RECORDS" in details
        assert [a.sequence for a in acks] == [1]  # the batch before the bad one is acked

        big = events(p, 1, start=20)
        big[0].body.description = "y" * 70_000
        code, details, _ = await expect_status(gw, [batch(1, big)])
        assert code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT)

        code, details, _ = await expect_status(gw, [batch(0, events(p, 1))])
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "sequence" in details

        assert await health(gw) == health_pb2.HealthCheckResponse.SERVING


async def test_producer_id_metadata_is_required_and_checked(gateway: Gateway) -> None:
    async with channel(gateway) as ch:
        stub = ingest_pb2_grpc.IngestServiceStub(ch)
        for md in ((), (("x-producer-id", "has spaces"),), (("x-producer-id", "x" * 201),)):
            with pytest.raises(aio.AioRpcError) as info:
                await stub.Resume(ingest_pb2.ResumeRequest(), metadata=(*md, *PUBLISH_METADATA))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "x-producer-id" in (info.value.details() or "")


async def test_undecodable_message_is_invalid_argument(gateway: Gateway) -> None:
    async with channel(gateway) as ch:
        raw = ch.stream_stream(
            "/jobstream.v1.IngestService/Ingest",
            request_serializer=lambda b: b,
            response_deserializer=ingest_pb2.IngestAck.FromString,
        )
        good = batch(1, events(uid(), 1)).SerializeToString()
        call = raw(
            iter([good, b"\xff\xff\xff garbage"]),
            metadata=(("x-producer-id", uid()), *PUBLISH_METADATA),
        )
        acks: list[ingest_pb2.IngestAck] = []
        with pytest.raises(aio.AioRpcError) as info:
            await collect(call, acks)
        assert [a.sequence for a in acks] == [1]
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not an IngestBatch" in (info.value.details() or "")


# --- health and reflection ----------------------------------------------------------------


async def health(gw: Gateway, service: str = "") -> int:
    async with channel(gw) as ch:
        response = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        return int(response.status)


async def test_health_is_serving_and_reflection_lists_the_service(gateway: Gateway) -> None:
    assert await health(gateway) == health_pb2.HealthCheckResponse.SERVING
    assert (
        await health(gateway, "jobstream.v1.IngestService")
        == health_pb2.HealthCheckResponse.SERVING
    )
    async with channel(gateway) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        call = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        [response] = [r async for r in call]
    names = {s.name for s in response.list_services_response.service}
    assert "jobstream.v1.IngestService" in names
    assert "grpc.health.v1.Health" in names


# --- backpressure and Kafka failures ------------------------------------------------------


async def test_a_stalled_kafka_stops_reading_within_the_budgets(
    gw_stack: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Kafka stalled, the gateway reads at most the per-stream budget (plus the
    batch that does not fit) and the producer's sends block; once Kafka moves, all land."""
    p = uid()
    async with running_gateway(
        gw_stack, gateway_port=free_port(), max_inflight_per_stream=100, max_inflight_total=150
    ) as gw:
        kafka_moves = asyncio.Event()
        real_enqueue = gw.writer.enqueue
        enqueued_batches = 0

        async def stalled_enqueue(records: list[tuple[str, bytes]], producer_id: str) -> object:
            nonlocal enqueued_batches
            enqueued_batches += 1
            await kafka_moves.wait()
            return await real_enqueue(records, producer_id)

        monkeypatch.setattr(gw.writer, "enqueue", stalled_enqueue)
        sent: list[int] = []
        client = IngestClient(gw.address, producer_id=f"bp-{p}", window=1000, token=PUBLISH_TOKEN)

        async def produce() -> None:
            async with client:
                for s in range(30):
                    sent.append(await client.send(events(p, 20, start=20 * s)))

        task = asyncio.create_task(produce())
        await asyncio.sleep(1.5)
        [session] = list(gw.service.sessions)
        assert session.budget.in_use <= 100
        assert gw.service.total_budget.in_use <= 150
        assert session.high <= 5  # 5 batches x 20 records fill the stream's budget
        assert enqueued_batches <= 5
        assert len(sent) == 30  # the client's own window is not the limit here
        kafka_moves.set()
        await asyncio.wait_for(task, 30)
        assert session.budget.in_use == 0
        assert gw.service.total_budget.in_use == 0


async def test_a_kafka_write_failure_ends_the_stream_and_the_client_resends(
    gateway: Gateway, watch: TopicWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = uid()
    real_enqueue = gateway.writer.enqueue
    calls = 0

    async def failing_enqueue(records: list[tuple[str, bytes]], producer_id: str) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KafkaTimeoutError("simulated: brokers unreachable")
        return await real_enqueue(records, producer_id)

    monkeypatch.setattr(gateway.writer, "enqueue", failing_enqueue)
    acked: list[ingest_pb2.IngestAck] = []
    client = IngestClient(
        gateway.address,
        token=PUBLISH_TOKEN,
        producer_id=f"kf-{p}",
        window=1,
        on_ack=lambda a, _: acked.append(a),
    )
    async with client:
        for s in range(4):
            await client.send(events(p, 10, start=10 * s))
    assert client.reconnects == 1
    assert [a.sequence for a in acked] == [1, 2, 3, 4]
    ids = [w.id for w in await written(watch, p)]
    assert sorted(ids) == sorted(f"{p}:{i}" for i in range(40))  # the failed batch: once
    assert not gateway.service.sessions or all(
        s.budget.in_use == 0 for s in gateway.service.sessions
    )
    assert gateway.service.total_budget.in_use == 0
