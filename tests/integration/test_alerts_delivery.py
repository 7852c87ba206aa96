"""Alert delivery (issue #13) on the real stack, with real receivers: an aiohttp web
server in the test for webhooks, aiosmtpd as the SMTP server, and the delivery worker
(`python -m streams.alerts.delivery`) as a subprocess on private topics and groups.

Proves: a receiver failing 3 times then succeeding gets each alert once, signed and
fresh; one that always fails ends in the webhook DLQ after the (short) retry period and
`jobstream dlq redrive --topic ...` delivers it once, and never twice; kill -9 and a
restart resend nothing; non-loopback http and private addresses are refused; an
IMMEDIATE email arrives once (after an SMTP 451), multipart, escaped, with RFC 8058
headers; a DAILY digest holds every alert and is sent once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from aiosmtpd.controller import Controller
from google.protobuf.timestamp_pb2 import Timestamp
from typer.testing import CliRunner

from infra.cli import app
from schemas import kafka
from schemas.jobstream.v1 import alerts_pb2
from schemas.settings import Settings, load_settings
from schemas.topics import TopicSpec, create_missing
from schemas.webhooks import ALERT_ID_HEADER, SIGNATURE_HEADER, address_refusal, url_refusal
from streams.alerts.delivery.mail import EmailSender, next_digest
from streams.alerts.delivery.metrics import DeliveryMetrics
from streams.ops.dead_letters import DeadLetter, iter_letters
from tests.support.provision import free_port
from tests.support.sink import metrics, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_test_" + uuid.uuid4().hex
PUBLIC = "http://jobs.example.test"


# --- receivers ----------------------------------------------------------------------------
@dataclass
class Hit:
    path: str
    alert_id: str
    signature: str
    body: bytes
    status: int
    at: float


@dataclass
class Receiver:
    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    dead_heals: bool = False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ok(self, path: str) -> Counter[str]:
        return Counter(h.alert_id for h in self.hits if h.path == path and h.status == 200)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        alert_id = request.headers.get(ALERT_ID_HEADER, "")
        path = request.path
        tried = sum(1 for h in self.hits if h.alert_id == alert_id and h.path == path)
        status = 200
        if path == "/flaky" and tried < 3:
            status = 500
        elif path == "/dead" and not self.dead_heals:
            status = 503
        elif path == "/redirect":
            status = 302
        elif path == "/slow":
            await asyncio.sleep(0.25)
        elif path == "/hang":  # longer than JOBSTREAM_WEBHOOK_TIMEOUT_S
            await asyncio.sleep(5)
        self.hits.append(
            Hit(
                path, alert_id, request.headers.get(SIGNATURE_HEADER, ""), body, status, time.time()
            )
        )
        headers = {"Location": self.url("/ok")} if status == 302 else None
        return web.Response(status=status, text="x", headers=headers)


class Mailbox:
    """aiosmtpd handler: keeps each accepted message; answers 451 ``fail_next`` times."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.fail_next = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.fail_next:
                self.fail_next -= 1
                return "451 4.3.0 try again later"
            msg = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            self.messages.append(msg)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if str(m["To"]) == address]


# --- fixtures ---------------------------------------------------------------------------
@dataclass
class Env:
    settings: Settings
    env: dict[str, str]
    receiver: Receiver
    mailbox: Mailbox
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streams.alerts.delivery"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=out,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(
    stack: Settings, mailbox: tuple[Mailbox, int], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    receiver = Receiver()
    runner = web.AppRunner(web.Application())
    runner.app.router.add_post("/{tail:.*}", receiver.handle)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.port = runner.addresses[0][1]
    tag = uuid.uuid4().hex[:8]
    values = {
        "JOBSTREAM_TOPIC_ALERTS": f"alerts.t{tag}",
        "JOBSTREAM_TOPIC_WEBHOOK_DEAD_LETTERS": f"alerts.t{tag}.webhook-dlq",
        "JOBSTREAM_WEBHOOK_CONSUMER_GROUP": f"webhooks-t{tag}",
        "JOBSTREAM_EMAIL_CONSUMER_GROUP": f"email-t{tag}",
        "JOBSTREAM_WEBHOOK_BACKOFF_BASE_S": "0.05",
        "JOBSTREAM_WEBHOOK_BACKOFF_MAX_S": "0.2",
        "JOBSTREAM_WEBHOOK_RETRY_FOR_S": "3",
        "JOBSTREAM_WEBHOOK_TIMEOUT_S": "3",
        "JOBSTREAM_WEBHOOK_CONCURRENCY": "16",
        "JOBSTREAM_WEBHOOK_PER_HOST": "8",
        "JOBSTREAM_EMAIL_BACKOFF_BASE_S": "0.1",
        "JOBSTREAM_ALERTS_DELIVERY_POLL_S": "0.05",
        "JOBSTREAM_ALERTS_DELIVERY_METRICS_PORT": str(free_port()),
        "JOBSTREAM_PUBLIC_URL": PUBLIC,
        "JOBSTREAM_SMTP_HOST": "127.0.0.1",
        "JOBSTREAM_SMTP_PORT": str(mailbox[1]),
        "JOBSTREAM_SMTP_FROM": "JobStream <alerts@jobs.example.test>",
    }
    # the stack's JOBSTREAM_* environment, with these on top
    settings = load_settings(**{k.removeprefix("JOBSTREAM_").lower(): v for k, v in values.items()})
    admin = kafka.admin(settings, "test")
    await admin.start()
    try:
        await create_missing(
            admin,
            [
                TopicSpec(settings.topic_alerts, 3),
                TopicSpec(settings.topic_webhook_dead_letters, 1),
            ],
        )
    finally:
        await admin.close()
    e = Env(
        settings,
        {**os.environ, **values, "PYTHONUNBUFFERED": "1"},
        receiver,
        mailbox[0],
        tmp_path_factory.mktemp("delivery") / "worker.log",
    )
    e.start()
    yield e
    e.stop()
    await runner.cleanup()


# --- helpers ----------------------------------------------------------------------------
def search_id() -> str:
    return "ss_" + uuid.uuid4().hex[:22]


async def add_search(
    settings: Settings,
    *,
    webhook: str | None = None,
    email: str | None = None,
    schedule: str | None = None,
    query: str = "python <developer>",
) -> str:
    sid = search_id()
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute(
            "INSERT INTO saved_searches (id, secret_sha256, query, filter, mode, min_score, "
            "webhook_url, webhook_signing_secret, email, email_schedule, unsubscribe_token, "
            "created_at, source_partition, source_offset) VALUES ($1, '\\x00', $2, '{}', "
            "'KEYWORD', 0, $3, $4, $5, $6, $7, now(), 0, 0)",
            sid,
            query,
            webhook,
            SECRET if webhook else None,
            email,
            schedule,
            "unsub_" + uuid.uuid4().hex if email else None,
        )
    finally:
        await conn.close()
    return sid


def alert(
    sid: str, posting_id: str, *, fragment: str = "Senior <b>Python</b> developer"
) -> alerts_pb2.Alert:
    now = Timestamp()
    now.GetCurrentTime()
    return alerts_pb2.Alert(
        id=f"{sid}/{posting_id}",
        saved_search_id=sid,
        posting_id=posting_id,
        version=1,
        score=0.75,
        highlights_json=json.dumps([{"field": "title", "fragment": fragment, "ranges": []}]),
        committed_at=now,
        matched_at=now,
        sequence=1,
    )


async def produce(settings: Settings, alerts: list[alerts_pb2.Alert]) -> None:
    producer = kafka.producer(settings, "test")
    await producer.start()
    try:
        for a in alerts:
            await producer.send_and_wait(
                settings.topic_alerts, a.SerializeToString(), key=a.saved_search_id.encode()
            )
    finally:
        await producer.stop()


async def letters(settings: Settings) -> list[DeadLetter]:
    return [x async for x in iter_letters(settings, topic=settings.topic_webhook_dead_letters)]


async def rows(settings: Settings, table: str, sid: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return await conn.fetch(f"SELECT * FROM {table} WHERE saved_search_id = $1", sid)
    finally:
        await conn.close()


async def cli(e: Env, *args: str) -> Any:
    """``jobstream ARGS`` in-process (in a thread: the CLI runs its own event loop)."""
    env = {k: v for k, v in e.env.items() if k.startswith("JOBSTREAM_")}
    result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --- webhooks -----------------------------------------------------------------------------
async def test_flaky_receiver_gets_each_alert_once_signed_and_fresh(env: Env) -> None:
    from schemas.webhooks import verify

    sid = await add_search(env.settings, webhook=env.receiver.url("/flaky"))
    sent = [alert(sid, f"p-{i}") for i in range(5)]
    await produce(env.settings, sent)
    await wait_for(lambda: len(env.receiver.ok("/flaky")) == 5, timeout=20, what="5 deliveries")
    await asyncio.sleep(0.5)  # nothing more comes
    ids = {a.id for a in sent}
    assert env.receiver.ok("/flaky") == Counter({i: 1 for i in ids})
    hits = [h for h in env.receiver.hits if h.alert_id in ids]
    assert Counter(h.alert_id for h in hits) == Counter({i: 4 for i in ids})  # 3 failures + 1
    for h in hits:
        assert verify(SECRET, h.signature, h.body), h.signature
        assert abs(int(h.signature.split(",")[0][2:]) - h.at) <= 2  # signed at send time
        assert not verify("whsec_wrong", h.signature, h.body)
        assert not verify(SECRET, h.signature, h.body + b" ")
    body = json.loads(next(h.body for h in hits if h.status == 200))
    assert body["saved_search_id"] == sid
    assert body["version"] == 1
    assert body["closed"] is False
    assert body["posting_url"] == f"{PUBLIC}/postings/{body['posting_id']}"
    assert body["highlights"][0]["fragment"] == "Senior <b>Python</b> developer"
    assert {
        (r["status"], r["attempts"]) for r in await rows(env.settings, "webhook_deliveries", sid)
    } == {("delivered", 4)}
    samples = metrics(int(env.env["JOBSTREAM_ALERTS_DELIVERY_METRICS_PORT"]))
    assert samples['jobstream_alerts_delivered_total{channel="webhook"}'] >= 5
    assert samples['jobstream_alerts_delivery_retried_total{channel="webhook"}'] >= 15
    failed = 'jobstream_alerts_delivery_failed_total{channel="webhook",reason="webhook_http_500"}'
    assert samples[failed] >= 15
    assert samples['jobstream_alerts_delivery_latency_seconds_count{channel="webhook"}'] >= 5


async def test_always_failing_goes_to_the_dlq_and_is_redriven_once(env: Env) -> None:
    sid = await add_search(env.settings, webhook=env.receiver.url("/dead"))
    redirect = await add_search(env.settings, webhook=env.receiver.url("/redirect"))
    hang = await add_search(env.settings, webhook=env.receiver.url("/hang"))
    sent = [alert(sid, "d-1"), alert(sid, "d-2"), alert(redirect, "r-1"), alert(hang, "h-1")]
    started = time.monotonic()
    await produce(env.settings, sent)

    async def dead() -> bool:
        keys = (sid.encode(), redirect.encode(), hang.encode())
        return len([x for x in await letters(env.settings) if x.key in keys]) == 4

    await wait_for(dead, timeout=20, what="4 dead letters")
    assert time.monotonic() - started >= 3  # the retry period
    got = {x.header("x-alert-id"): x for x in await letters(env.settings)}
    for a in sent:
        letter = got[a.id]
        assert letter.value == a.SerializeToString()  # the original bytes
        assert int(letter.header("x-attempts") or 0) >= (1 if a.saved_search_id == hang else 3)
    assert got[sent[0].id].error_class == "webhook_http_503"
    assert got[sent[0].id].header("x-last-status") == "503"
    assert got[sent[2].id].error_class == "webhook_http_302"  # a redirect is not followed
    assert got[sent[3].id].error_class == "webhook_timeout"
    assert not env.receiver.ok("/ok")
    assert {r["status"] for r in await rows(env.settings, "webhook_deliveries", sid)} == {"dead"}

    listed = await cli(
        env, "dlq", "list", "--topic", env.settings.topic_webhook_dead_letters, "--json"
    )
    assert listed["summary"]["by_error_class"]["webhook_http_503"] >= 2
    # this test's letters (an earlier test of the session may have dead-lettered a record
    # that is no Alert on the same topic)
    first = next(x for x in listed["letters"] if x["error_class"] == "webhook_http_503")
    shown = await cli(
        env, "dlq", "show", str(first["offset"]),
        "--topic", env.settings.topic_webhook_dead_letters, "--json",
    )  # fmt: skip
    assert shown["headers"]["x-error-class"] == first["error_class"]
    assert shown["headers"]["x-consumer-group"] == env.settings.webhook_consumer_group
    assert shown["payload"]["kind"] == "Alert"
    assert shown["posting_id"] == shown["payload"]["alert"]["posting_id"] == first["posting_id"]
    env.receiver.dead_heals = True
    report = await cli(
        env, "dlq", "redrive", "--topic", env.settings.topic_webhook_dead_letters,
        "--error-class", "webhook_http_503", "--execute", "--json",
    )  # fmt: skip
    assert report["redriven"] >= 2
    assert report["outcomes"] == {"pending": report["redriven"]}
    await wait_for(lambda: len(env.receiver.ok("/dead")) == 2, timeout=15, what="redriven sent")
    again = await cli(
        env, "dlq", "redrive", "--topic", env.settings.topic_webhook_dead_letters,
        "--error-class", "webhook_http_503", "--execute", "--json",
    )  # fmt: skip
    assert again["redriven"] == 0
    assert again["skipped"]["already_redriven"] >= 2
    await asyncio.sleep(0.5)
    assert env.receiver.ok("/dead") == Counter({sent[0].id: 1, sent[1].id: 1})
    assert {
        (r["status"], r["attempts"]) for r in await rows(env.settings, "webhook_deliveries", sid)
    } == {("delivered", 1)}


async def test_refused_addresses_never_get_a_request(env: Env) -> None:
    urls = [
        "http://example.com/hook",  # plain http off loopback
        "https://10.0.0.7/hook",
        "https://[::ffff:192.168.1.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/x",
    ]
    sids = [await add_search(env.settings, webhook=u) for u in urls]
    await produce(env.settings, [alert(s, "x-1") for s in sids])

    async def refused() -> bool:
        keys = {
            x.key for x in await letters(env.settings) if x.error_class == "webhook_url_refused"
        }
        return all(s.encode() in keys for s in sids)

    await wait_for(refused, timeout=15, what="refused letters")
    for sid in sids:
        (row,) = await rows(env.settings, "webhook_deliveries", sid)
        assert row["status"] == "dead"
        assert row["attempts"] == 0
    # the rule itself, on what a name may resolve to
    import ipaddress

    for bad in (
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.1.1",
        "fd00::1",
        "fe80::1",
        "0.0.0.0",
    ):
        assert address_refusal(ipaddress.ip_address(bad), "https") is not None, bad
    assert address_refusal(ipaddress.ip_address("93.184.216.34"), "https") is None
    assert address_refusal(ipaddress.ip_address("93.184.216.34"), "http") is not None
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), "http") is None
    assert url_refusal("https://user:pw@example.com/") is not None
    assert url_refusal("ftp://example.com/") is not None


async def test_a_slow_receiver_does_not_hold_up_another_host(env: Env) -> None:
    """120 alerts to a host answering in 0.25 s (8 in flight there: >= 3.75 s) do not delay
    5 alerts to another host. Without the per-host bound on what is claimed, the 5 would
    wait behind every slow row queued before them (16 slots, claimed oldest first): the
    slow host would have had ~90 answered by then, not a handful."""
    slow = await add_search(env.settings, webhook=f"http://localhost:{env.receiver.port}/slow")
    fast = await add_search(env.settings, webhook=env.receiver.url("/fast"))
    await produce(env.settings, [alert(slow, f"s-{i}") for i in range(120)])
    await wait_for(lambda: len(env.receiver.ok("/slow")) >= 8, timeout=15, what="slow started")
    await produce(env.settings, [alert(fast, f"f-{i}") for i in range(5)])
    await wait_for(lambda: len(env.receiver.ok("/fast")) == 5, timeout=15, what="fast delivered")
    assert len(env.receiver.ok("/slow")) < 60  # the fast host did not queue behind
    await wait_for(lambda: len(env.receiver.ok("/slow")) == 120, timeout=30, what="slow drained")
    assert set(env.receiver.ok("/slow").values()) == {1}


async def test_a_close_is_a_delivery_of_its_own_and_deleted_searches_get_nothing(
    env: Env,
) -> None:
    sid = await add_search(env.settings, webhook=env.receiver.url("/closes"))
    gone = await add_search(env.settings, webhook=env.receiver.url("/gone"))
    conn = await asyncpg.connect(env.settings.postgres_dsn)
    try:
        await conn.execute("UPDATE saved_searches SET deleted = true WHERE id = $1", gone)
    finally:
        await conn.close()
    opened = alert(sid, "c-1")
    closed = alerts_pb2.Alert()
    closed.CopyFrom(opened)
    closed.closed = True
    await produce(env.settings, [opened, alert(gone, "c-2"), closed, opened])  # a replay too

    def both() -> bool:
        return len([h for h in env.receiver.hits if h.path == "/closes"]) == 2

    await wait_for(both, timeout=15, what="open and close")
    await asyncio.sleep(0.5)
    bodies = [json.loads(h.body) for h in env.receiver.hits if h.path == "/closes"]
    assert sorted(b["closed"] for b in bodies) == [False, True]
    assert {b["alert_id"] for b in bodies} == {opened.id}
    assert not [h for h in env.receiver.hits if h.path == "/gone"]
    assert await rows(env.settings, "webhook_deliveries", gone) == []


async def test_kill9_and_restart_resend_nothing(env: Env) -> None:
    sid = await add_search(env.settings, webhook=env.receiver.url("/ok"))
    first = [alert(sid, f"k-{i}") for i in range(20)]
    await produce(env.settings, first)
    await wait_for(lambda: len(env.receiver.ok("/ok")) == 20, timeout=15, what="20 delivered")

    async def flushed() -> bool:
        return {r["status"] for r in await rows(env.settings, "webhook_deliveries", sid)} == {
            "delivered"
        }

    await wait_for(flushed, timeout=10, what="delivered marks")
    env.stop(signal.SIGKILL)
    second = [alert(sid, f"k-{i}") for i in range(20, 30)]
    await produce(env.settings, [*first[:5], *second])  # a replayed alert too
    env.start()
    await wait_for(lambda: len(env.receiver.ok("/ok")) == 30, timeout=30, what="30 delivered")
    await asyncio.sleep(1.0)
    assert env.receiver.ok("/ok") == Counter({a.id: 1 for a in [*first, *second]})


# --- email ------------------------------------------------------------------------------
async def test_immediate_email_arrives_once_multipart_with_one_click_unsubscribe(env: Env) -> None:
    address = f"seeker-{uuid.uuid4().hex[:6]}@example.org"
    sid = await add_search(env.settings, email=address, schedule="IMMEDIATE")
    env.mailbox.fail_next = 1  # the first SMTP attempt gets a 451: retried with backoff
    await produce(env.settings, [alert(sid, "e-1", fragment="<script>alert(1)</script> Rust")])
    await wait_for(lambda: len(env.mailbox.to(address)) == 1, timeout=20, what="the email")
    await asyncio.sleep(1.0)
    (msg,) = env.mailbox.to(address)
    assert msg.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    (token,) = [r["unsubscribe_token"] for r in await _search(env.settings, sid)]
    link = f"{PUBLIC}/alerts/{sid}/unsubscribe?token={token}"
    assert msg["List-Unsubscribe"] == f"<{link}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "<script>" not in parts["text/html"]
    assert "&lt;script&gt;" in parts["text/html"]
    assert f"{PUBLIC}/postings/e-1" in parts["text/plain"]
    assert link in parts["text/plain"]
    (row,) = await rows(env.settings, "email_deliveries", sid)
    assert row["status"] == "sent"
    assert row["attempts"] == 2


async def _search(settings: Settings, sid: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return await conn.fetch("SELECT * FROM saved_searches WHERE id = $1", sid)
    finally:
        await conn.close()


async def test_daily_digest_holds_every_alert_and_is_sent_once(env: Env) -> None:
    address = f"digest-{uuid.uuid4().hex[:6]}@example.org"
    sid = await add_search(env.settings, email=address, schedule="DAILY")
    await produce(env.settings, [alert(sid, f"g-{i}") for i in range(4)])

    async def queued() -> bool:
        return len(await rows(env.settings, "email_deliveries", sid)) == 4

    await wait_for(queued, timeout=15, what="4 queued")
    await asyncio.sleep(0.5)
    assert env.mailbox.to(address) == []  # the worker waits for the digest hour
    pool = await asyncpg.create_pool(env.settings.postgres_dsn, min_size=1, max_size=2)
    try:
        sender = EmailSender(env.settings, pool, DeliveryMetrics())
        at = next_digest(datetime.now(UTC), env.settings.email_digest_hour_utc) + timedelta(
            minutes=1
        )
        assert await sender.send_due(now=at) >= 1
        assert await sender.send_due(now=at + timedelta(days=1)) == 0
    finally:
        await pool.close()
    (msg,) = env.mailbox.to(address)
    assert msg["Subject"].startswith("Your daily job alert: 4 new jobs")
    text = msg.get_body(("plain",)).get_content()
    assert all(f"/postings/g-{i}" in text for i in range(4))
    assert {r["status"] for r in await rows(env.settings, "email_deliveries", sid)} == {"sent"}
