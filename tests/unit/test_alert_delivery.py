"""Alert delivery's pure parts: the webhook signature and address rule
(schemas/webhooks.py), the resolver that applies it to names, the email's composition
(escaping, header injection, RFC 8058 headers) and the digest schedule."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime

import pytest

from schemas.jobstream.v1 import alerts_pb2
from schemas.webhooks import address_refusal, signature, url_refusal, verify
from streams.alerts.delivery.compose import PostingInfo, Recipient, compose
from streams.alerts.delivery.http import GuardedResolver, RefusedAddress
from streams.alerts.delivery.mail import next_digest


def test_signature_is_hmac_of_timestamp_dot_body_and_verify_checks_age() -> None:
    body = b'{"alert_id":"ss_x/p1"}'
    header = signature("whsec_k", 1_700_000_000, body)
    # echo -n '1700000000.{"alert_id":"ss_x/p1"}' | openssl dgst -sha256 -hmac whsec_k
    import hashlib
    import hmac

    mac = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={mac}"
    assert verify("whsec_k", header, body, now=1_700_000_100)
    assert not verify("whsec_k", header, body, now=1_700_000_301)  # a replay, too old
    assert not verify("whsec_other", header, body, now=1_700_000_000)
    assert not verify("whsec_k", header, body + b" ", now=1_700_000_000)
    assert not verify("whsec_k", "garbage", body)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://10.0.0.1/",
        "https://192.168.1.20:8443/x",
        "https://172.16.5.5/",
        "https://169.254.169.254/latest",
        "https://[fe80::1]/",
        "https://[fd12::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://100.64.1.1/",
        "https://0.0.0.0/",
        "https://user:pw@example.com/",
        "ftp://example.com/",
        "https:///nohost",
        "https://example.com:99999/",
    ],
)
def test_refused_urls(url: str) -> None:
    assert url_refusal(url) is not None


@pytest.mark.parametrize(
    "url",
    ["https://example.com/hook", "http://127.0.0.1:9000/x", "http://localhost/x", "https://[::1]/"],
)
def test_allowed_urls(url: str) -> None:
    assert url_refusal(url) is None


def test_resolver_keeps_only_allowed_addresses() -> None:
    async def go() -> None:
        https = GuardedResolver("https")
        try:
            hosts = {r["host"] for r in await https.resolve("localhost", 443)}
            assert hosts
            assert all(ipaddress.ip_address(h).is_loopback for h in hosts)
        finally:
            await https.close()

    asyncio.run(go())
    assert address_refusal(ipaddress.ip_address("8.8.8.8"), "http") is not None
    assert issubclass(RefusedAddress, OSError)  # aiohttp reports it as a connect error


def _alert(pid: str, fragment: str) -> alerts_pb2.Alert:
    return alerts_pb2.Alert(
        id=f"ss_1/{pid}",
        saved_search_id="ss_1",
        posting_id=pid,
        highlights_json=f'[{{"field": "title", "fragment": "{fragment}", "ranges": []}}]',
    )


def test_email_escapes_html_and_refuses_header_injection() -> None:
    msg = compose(
        sender="JobStream <alerts@example.test>",
        to=Recipient("ss_1", "seeker@example.org", "rust\r\nBcc: evil@example.com", "tok/+="),
        alerts=[_alert("p1", "<img src=x onerror=alert(1)>")],
        postings={"p1": PostingInfo("<b>Engineer</b>", "ACME & Co", "Berlin, DE")},
        digest=False,
        public_url="https://jobs.example",
        message_id="<d1@jobstream.alerts>",
        now=datetime(2026, 12, 4, tzinfo=UTC),
    )
    assert msg["Bcc"] is None
    assert "\n" not in str(msg["Subject"])
    html = msg.get_body(("html",)).get_content()
    assert "<img" not in html
    assert "&lt;img" in html
    assert "<b>Engineer</b>" not in html
    assert "&lt;b&gt;Engineer&lt;/b&gt;" in html
    assert "ACME &amp; Co" in html
    link = "https://jobs.example/alerts/ss_1/unsubscribe?token=tok%2F%2B%3D"
    assert msg["List-Unsubscribe"] == f"<{link}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in msg.get_body(("plain",)).get_content()


def test_next_digest_is_the_next_hour_strictly_after_now() -> None:
    assert next_digest(datetime(2026, 12, 4, 7, 59, tzinfo=UTC), 8) == datetime(
        2026, 12, 4, 8, tzinfo=UTC
    )
    assert next_digest(datetime(2026, 12, 4, 8, 0, tzinfo=UTC), 8) == datetime(
        2026, 12, 5, 8, tzinfo=UTC
    )
