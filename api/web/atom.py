"""A saved search's alerts as an Atom feed (RFC 4287), newest first.

Ids are tag: URIs (RFC 4151) under the public URL's host, dated by the saved search's
creation: stable whatever the secret in the feed's URL, so a reader never sees an entry
twice. Each entry links to the posting's page; a posting deleted since it alerted is an
entry saying so.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape, quoteattr

from api.alerts.service import ShownAlert
from api.web.views import location_text
from schemas.saved_searches import SavedSearch


def _time(when: datetime) -> str:
    return when.isoformat()


def tag(public_url: str, row: SavedSearch, specific: str) -> str:
    host = urlsplit(public_url).hostname or "localhost"
    return f"tag:{host},{row.created_at.date().isoformat()}:{specific}"


def feed_xml(
    public_url: str,
    row: SavedSearch,
    shown: list[ShownAlert],
    page_url: str,
    feed_url: str,
) -> str:
    title = f"JobStream alerts: {row.query}" if row.query else "JobStream alerts"
    updated = max((s.alert.matched_at for s in shown), default=row.created_at)
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<id>{escape(tag(public_url, row, 'saved-search/' + row.id))}</id>",
        f"<title>{escape(title)}</title>",
        f"<updated>{_time(updated)}</updated>",
        "<author><name>JobStream</name></author>",
        f'<link rel="self" type="application/atom+xml" href={quoteattr(feed_url)}/>',
        f'<link rel="alternate" type="text/html" href={quoteattr(page_url)}/>',
    ]
    for s in shown:
        a = s.alert
        link = f"{public_url}/postings/{quote(a.posting_id, safe='')}"
        if s.posting is None:
            entry_title = f"Posting {a.posting_id} (removed)"
            summary = "This posting was removed after it matched."
        else:
            entry_title = s.posting.title
            summary = f"{s.posting.company} · {location_text(s.posting)}"
        out += [
            "<entry>",
            f"<id>{escape(tag(public_url, row, f'alert/{row.id}/{a.posting_id}'))}</id>",
            f"<title>{escape(entry_title)}</title>",
            f"<updated>{_time(a.matched_at)}</updated>",
            f'<link rel="alternate" type="text/html" href={quoteattr(link)}/>',
            f"<summary>{escape(summary)}</summary>",
            "</entry>",
        ]
    out.append("</feed>")
    return "\n".join(out) + "\n"
