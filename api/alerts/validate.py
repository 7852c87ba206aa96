"""Checks of what a client may put in a saved search besides its query and filter.

The query and the filter go through exactly what ``search`` uses
(:meth:`api.service.SearchService.check_query`, :class:`PostingFilter`); these are the
alert-only parts: the score floor, the backfill window, and where alerts are delivered.
Every refusal is a :class:`BadDelivery` naming the GraphQL argument path, so a client and
the web form both learn which field is wrong.
"""

from __future__ import annotations

import ipaddress
import math
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from schemas.errors import BadInputError
from schemas.webhooks import url_refusal

MAX_BACKFILL_DAYS = 30
MAX_URL_CHARS = 2000
MAX_EMAIL_CHARS = 254  # RFC 5321's path limit
LOOPBACK_NAMES = frozenset({"localhost"})


class BadDelivery(BadInputError):
    """An alert option a saved search cannot have; ``field`` is the argument path."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


def min_score(value: float | None, default: float) -> float:
    """The semantic part's cosine floor: ``default`` (search's match floor) when unset."""
    if value is None:
        return default
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise BadDelivery("minScore", f"minScore must be between 0 and 1 (got {value!r})")
    return float(value)


def backfill_days(value: int | None) -> int:
    if value is None:
        return 0
    if not 0 <= value <= MAX_BACKFILL_DAYS:
        raise BadDelivery(
            "backfillDays", f"backfillDays must be between 0 and {MAX_BACKFILL_DAYS} (got {value})"
        )
    return value


def _loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_url(value: str | None) -> str | None:
    """An https:// URL, or http:// to a loopback address (a local receiver); no
    credentials in it (they would end up in logs and the topic). None/"" = no webhook."""
    field = "delivery.webhookUrl"
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_URL_CHARS:
        raise BadDelivery(field, f"webhookUrl is longer than {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        raise BadDelivery(field, "webhookUrl must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError on a port outside 0-65535
    except ValueError as exc:
        raise BadDelivery(field, f"webhookUrl is not a URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not host:
        raise BadDelivery(field, "webhookUrl must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise BadDelivery(field, "webhookUrl must not carry credentials (user:password@)")
    if parts.fragment:
        raise BadDelivery(field, "webhookUrl must not have a #fragment")
    if parts.scheme == "http" and not _loopback(host):
        raise BadDelivery(
            field, "webhookUrl must use https:// (http:// only to a loopback address)"
        )
    refusal = url_refusal(value)  # what the sender would refuse (private addresses...)
    if refusal is not None:
        raise BadDelivery(field, f"webhookUrl is refused: {refusal}")
    return value


def email(value: str | None) -> str | None:
    """A deliverable-looking address (syntax only: no DNS lookup at request time),
    normalised; None/"" = no email."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_EMAIL_CHARS:
        raise BadDelivery("delivery.email", f"email is longer than {MAX_EMAIL_CHARS} characters")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadDelivery("delivery.email", f"email is not an address: {exc}") from None
