"""An alert email: multipart/alternative (text, then HTML), one-click unsubscribe.

Everything in it comes from postings and saved searches anyone can write, so the HTML
part is rendered with autoescape, headers are built by the stdlib ``email`` package
(which refuses line breaks in a header) from text stripped of control characters, and
the List-Unsubscribe headers follow RFC 8058 (the API answers the POST).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

import jinja2

from schemas.jobstream.v1 import alerts_pb2
from streams.alerts.delivery.payload import highlights, posting_url

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=lambda name: bool(name and name.endswith(".html.j2")),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
SUBJECT_QUERY_CHARS = 60
HIGHLIGHTS_PER_ALERT = 2


def clean(text: str | None, limit: int = 200) -> str:
    """One line of at most ``limit`` characters, no control characters."""
    line = _CONTROL.sub(" ", text or "").strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class PostingInfo:
    title: str
    company: str
    place: str


@dataclass(frozen=True)
class Recipient:
    saved_search_id: str
    email: str
    query: str
    unsubscribe_token: str | None


def unsubscribe_url(public_url: str, saved_search_id: str, token: str) -> str:
    """The RFC 8058 one-click link (the API: GET confirms, POST unsubscribes)."""
    search = quote(saved_search_id, safe="")
    return f"{public_url}/alerts/{search}/unsubscribe?token={quote(token, safe='')}"


def _fragments(alert: alerts_pb2.Alert) -> list[str]:
    out = []
    for h in highlights(alert)[:HIGHLIGHTS_PER_ALERT]:
        if isinstance(h, dict) and isinstance(h.get("fragment"), str):
            out.append(clean(h["fragment"], 300))
    return out


def compose(
    *,
    sender: str,
    to: Recipient,
    alerts: Sequence[alerts_pb2.Alert],
    postings: dict[str, PostingInfo],
    digest: bool,
    public_url: str,
    message_id: str,
    now: datetime | None = None,
) -> EmailMessage:
    """The email for these alerts of one saved search (an immediate batch or a digest)."""
    items = []
    for alert in alerts:
        info = postings.get(alert.posting_id)
        items.append(
            {
                "title": clean(info.title if info else alert.posting_id),
                "company": clean(info.company if info else ""),
                "place": clean(info.place if info else ""),
                "url": posting_url(public_url, alert.posting_id),
                "highlights": _fragments(alert),
            }
        )
    query = clean(to.query, SUBJECT_QUERY_CHARS)
    n = len(items)
    jobs = "1 new job" if n == 1 else f"{n} new jobs"
    about = f' for "{query}"' if query else ""
    if digest:
        subject = f"Your daily job alert: {jobs}{about}"
    elif n == 1:
        first = items[0]
        subject = f"New job: {first['title']}" + (
            f" at {first['company']}" if first["company"] else ""
        )
    else:
        subject = f"{jobs}{about}"
    unsubscribe = (
        unsubscribe_url(public_url, to.saved_search_id, to.unsubscribe_token)
        if to.unsubscribe_token
        else None
    )
    context = {
        "heading": clean(subject, 300),
        "alerts": items,
        "query": query,
        "unsubscribe_url": unsubscribe or public_url,
    }
    msg = EmailMessage()
    msg["Subject"] = clean(subject, 300)
    msg["From"] = sender
    msg["To"] = Address(addr_spec=to.email)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = message_id
    msg["X-JobStream-Saved-Search"] = to.saved_search_id
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(_ENV.get_template("email.txt.j2").render(context))
    msg.add_alternative(_ENV.get_template("email.html.j2").render(context), subtype="html")
    return msg
