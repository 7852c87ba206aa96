"""Writes need an identity (issue 11), on the real stack: API keys for GraphQL mutations
and gRPC ingest, producer ids bound to keys, the bounded sequence window, revocation, and
the `jobstream keys` commands.

Each test reads its keys from a private keys topic, so "no key configured" and
revocation are seen in isolation from the session's other keys.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from grpc import aio

from gateway.client import IngestClient, IngestError
from schemas.auth import ApiKey, Scope, new_key, write_key
from schemas.jobstream.v1 import ingest_pb2, ingest_pb2_grpc
from schemas.settings import Settings
from tests.support.api import DELETE, PUBLISH, app_settings, running_api, wait_until
from tests.support.corpus import BY_ID
from tests.support.gateway import TopicWatch, private_topics, running_gateway, sample_event
from tests.support.provision import free_port
from tests.support.sink import Topics

pytestmark = pytest.mark.integration

MAX_U64 = 2**64 - 1


def uid() -> str:
    return uuid.uuid4().hex[:10]


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def make_key(settings: Settings, name: str, *scopes: Scope) -> tuple[ApiKey, str]:
    key, token = new_key(name, frozenset(scopes))
    await write_key(settings, key)
    return key, token.get_secret_value()


@pytest.fixture
async def keyed(stack: Settings) -> Settings:
    """The stack on a private postings topic and a private keys topic, with no bootstrap
    publish token: only keys written in the test count."""
    settings = await private_topics(stack)
    return settings.model_copy(
        update={"topic_api_keys": f"keys-test-{uid()}", "ingest_token": None}
    )


async def call_ingest(
    address: str,
    producer_id: str,
    batches: list[ingest_pb2.IngestBatch],
    metadata: tuple[tuple[str, str], ...],
) -> tuple[list[ingest_pb2.IngestAck], grpc.StatusCode, str]:
    """Every ack of one stream, and its final status."""
    acks: list[ingest_pb2.IngestAck] = []
    async with aio.insecure_channel(address) as ch:
        call = ingest_pb2_grpc.IngestServiceStub(ch).Ingest(
            iter(batches), metadata=(("x-producer-id", producer_id), *metadata)
        )
        try:
            async for ack in call:
                acks.append(ack)
        except aio.AioRpcError as exc:
            return acks, exc.code(), exc.details() or ""
    return acks, grpc.StatusCode.OK, ""


async def call_resume(
    address: str, producer_id: str, metadata: tuple[tuple[str, str], ...]
) -> int | grpc.StatusCode:
    async with aio.insecure_channel(address) as ch:
        try:
            response = await ingest_pb2_grpc.IngestServiceStub(ch).Resume(
                ingest_pb2.ResumeRequest(), metadata=(("x-producer-id", producer_id), *metadata)
            )
        except aio.AioRpcError as exc:
            return exc.code()
    return int(response.last_acked_sequence)


def batch(sequence: int, prefix: str, n: int) -> ingest_pb2.IngestBatch:
    events = []
    for i in range(n):
        event = sample_event(i)
        event.id = f"{prefix}:{sequence}:{i}"
        events.append(event)
    return ingest_pb2.IngestBatch(sequence=sequence, postings=events)


# --- gRPC ---------------------------------------------------------------------------------


async def test_ingest_needs_a_publish_key_and_says_how_to_create_one(keyed: Settings) -> None:
    async with running_gateway(keyed, gateway_port=free_port()) as gw:
        _, code, details = await call_ingest(gw.address, f"p-{uid()}", [batch(1, uid(), 1)], ())
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "jobstream keys create NAME --scope publish" in details

        _, admin_token = await make_key(keyed, "ops", Scope.ADMIN)
        _, publish_token = await make_key(keyed, "crawler", Scope.PUBLISH)

        async def admin_refused() -> bool:
            _, code, _ = await call_ingest(
                gw.address, f"p-{uid()}", [batch(1, uid(), 1)], bearer(admin_token)
            )
            return code == grpc.StatusCode.PERMISSION_DENIED

        await wait_until(admin_refused, timeout=10, what="an admin key refused for ingest")
        acks, code, _ = await call_ingest(
            gw.address, f"p-{uid()}", [batch(1, uid(), 2)], bearer(publish_token)
        )
        assert code == grpc.StatusCode.OK
        assert len(acks[0].accepted_ids) == 2


async def test_another_key_cannot_poison_or_take_over_a_producer_id(keyed: Settings) -> None:
    """The issue's attack: an empty batch numbered 2^64-1 under a victim's producer id
    made every later batch of the victim a "duplicate", written nowhere."""
    victim_key, victim = await make_key(keyed, "victim", Scope.PUBLISH)
    _, attacker = await make_key(keyed, "attacker", Scope.PUBLISH)
    producer, prefix = f"victim-{uid()}", uid()
    watch = await TopicWatch(keyed, keyed.topic_postings).mark()
    async with running_gateway(keyed, gateway_port=free_port()) as gw:
        acks, code, _ = await call_ingest(
            gw.address, producer, [batch(1, prefix, 1)], bearer(victim)
        )
        assert code == grpc.StatusCode.OK
        assert [a.sequence for a in acks] == [1]

        poison = ingest_pb2.IngestBatch(sequence=MAX_U64)
        _, code, details = await call_ingest(gw.address, producer, [poison], bearer(attacker))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "belongs to another API key" in details
        assert victim_key.id not in details
        assert await call_resume(gw.address, producer, bearer(attacker)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )

        # The owner itself cannot jump past the window either.
        _, code, details = await call_ingest(gw.address, producer, [poison], bearer(victim))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "JOBSTREAM_GATEWAY_SEQUENCE_WINDOW" in details

        # The same key resumes (a restarted producer) and its next batch lands.
        assert await call_resume(gw.address, producer, bearer(victim)) == 1
        acks, code, _ = await call_ingest(
            gw.address, producer, [batch(2, prefix, 3)], bearer(victim)
        )
        assert code == grpc.StatusCode.OK
        assert not acks[0].duplicate
        assert len(acks[0].accepted_ids) == 3
    landed = [r for r in await watch.records() if r.headers.get("producer-id") == producer.encode()]
    assert landed, "the victim's batches reached postings.v1"

    # A restarted gateway still knows who owns the id (kept with the sequences).
    async with running_gateway(keyed, gateway_port=free_port()) as gw:
        assert await call_resume(gw.address, producer, bearer(attacker)) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert await call_resume(gw.address, producer, bearer(victim)) == 2


async def test_a_revoked_key_is_refused_within_seconds(keyed: Settings) -> None:
    key, token = await make_key(keyed, "leaked", Scope.PUBLISH)
    await make_key(keyed, "other", Scope.PUBLISH)  # so the topic still configures publish
    async with running_gateway(keyed, gateway_port=free_port()) as gw:
        _, code, _ = await call_ingest(
            gw.address, f"p-{uid()}", [batch(1, uid(), 1)], bearer(token)
        )
        assert code == grpc.StatusCode.OK
        await write_key(keyed, key.revoked())
        revoked_at = asyncio.get_running_loop().time()

        async def refused() -> bool:
            _, code, _ = await call_ingest(
                gw.address, f"p-{uid()}", [batch(1, uid(), 1)], bearer(token)
            )
            return code == grpc.StatusCode.UNAUTHENTICATED

        refused_at = await wait_until(refused, timeout=10, what="the revoked key refused")
        assert refused_at - revoked_at < 3.0


async def test_produce_stops_with_a_message_at_the_end_of_the_sequence_space(
    keyed: Settings,
) -> None:
    """A producer id poisoned before keys existed (a legacy record at 2^64-1): the client
    used to crash building sequence 2^64; now it says to use another producer id."""
    _, token = await make_key(keyed, "crawler", Scope.PUBLISH)
    producer = f"legacy-{uid()}"
    async with running_gateway(keyed, gateway_port=free_port()) as gw:
        legacy = json.dumps({"producer_id": producer, "sequence": MAX_U64}).encode()
        await gw.writer.producer.send_and_wait(
            gw.sequences.topic, legacy, key=producer.encode(), partition=0
        )
        client = IngestClient(gw.address, producer_id=producer, token=token)
        with pytest.raises(IngestError) as info:
            await client.connect()
        assert info.value.code == grpc.StatusCode.OUT_OF_RANGE
        assert "--producer-id" in info.value.details


# --- GraphQL ------------------------------------------------------------------------------


async def test_mutations_need_a_key_with_the_scope(keyed: Settings, topics: Topics) -> None:
    settings = app_settings(
        keyed, topics, embedder="hash", topic_api_keys=keyed.topic_api_keys, ingest_token=None
    )
    posting = BY_ID["py-1"].input(id=f"keys-{uid()}")
    lock_forever = {"id": posting["id"], "version": 2**63 - 1}
    watch = await TopicWatch(settings, topics.postings).mark()
    async with running_api(settings) as api:
        for query, variables in [(PUBLISH, {"input": posting}), (DELETE, lock_forever)]:
            errors = await api.errors(query, variables)
            assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", errors
            assert "jobstream keys create NAME --scope publish" in errors[0]["message"]

        _, token = await make_key(keyed, "web", Scope.PUBLISH)
        headers = {"authorization": f"Bearer {token}"}

        async def accepted() -> bool:
            status, doc = await api.raw(PUBLISH, {"input": posting}, headers)
            return status == 200 and not doc.get("errors")

        await wait_until(accepted, timeout=10, what="the new key accepted")
        for wrong in [{}, {"authorization": "Bearer jsk_0123456789ab_nope"}]:
            errors = await api.errors(DELETE, lock_forever, wrong)
            assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", errors
        errors = await api.errors("mutation { cacheFlush { cleared } }", None, headers)
        assert errors[0]["extensions"]["code"] == "FORBIDDEN", errors
        assert "lacks the `admin` scope" in errors[0]["message"]
    written = await watch.records()
    assert [r.key for r in written] == [posting["id"].encode()]  # only the keyed publish


# --- the CLI ------------------------------------------------------------------------------


def keys_cli(
    settings: Settings, home: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    variables = {
        **os.environ,
        "JOBSTREAM_HOME": str(home),
        "JOBSTREAM_TOPIC_API_KEYS": settings.topic_api_keys,
        "JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "infra", "keys", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env=variables,
    )


def test_keys_cli_create_list_revoke_round_trip(keyed: Settings, tmp_path: Path) -> None:
    created = keys_cli(keyed, tmp_path, "create", "ci", "--scope", "publish", "--json")
    assert created.returncode == 0, created.stderr
    shown = json.loads(created.stdout)
    token = shown["token"]
    assert token.startswith(f"jsk_{shown['id']}_")
    assert shown["scopes"] == ["publish"]

    again = keys_cli(keyed, tmp_path, "create", "ci", "--scope", "publish")
    assert again.returncode == 2
    assert "already named 'ci'" in again.stderr

    listed = keys_cli(keyed, tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert token.split("_")[-1] not in listed.stdout
    assert "sha256" not in listed.stdout
    [entry] = json.loads(listed.stdout)
    assert (entry["id"], entry["name"], entry["revoked_at"]) == (shown["id"], "ci", None)

    revoked = keys_cli(keyed, tmp_path, "revoke", "ci")
    assert revoked.returncode == 0, revoked.stderr
    [entry] = json.loads(keys_cli(keyed, tmp_path, "list", "--json").stdout)
    assert entry["revoked_at"] is not None

    for args in (["create", "x", "--scope", "write"], ["create", "bad name", "--scope", "admin"]):
        bad = keys_cli(keyed, tmp_path, *args)
        assert bad.returncode == 2, bad.stderr
    missing = keys_cli(keyed, tmp_path, "revoke", "nobody")
    assert missing.returncode == 2
    assert "no key" in missing.stderr
    down = keys_cli(
        keyed, tmp_path, "list", JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}"
    )
    assert down.returncode == 3, down.stderr


def test_demo_key_file_is_private_and_reused(keyed: Settings, tmp_path: Path) -> None:
    first = keys_cli(keyed, tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    path = tmp_path / "keys" / "demo.token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    token = path.read_text().strip()
    assert token not in first.stdout  # printed as $(cat file), never the secret
    second = keys_cli(keyed, tmp_path, "demo")
    assert second.returncode == 0, second.stderr
    assert "kept" in second.stdout
    assert path.read_text().strip() == token
