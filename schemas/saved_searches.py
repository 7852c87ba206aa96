"""What a saved search's id looks like and how its mode and email schedule are named:
the API writes saved-searches.v1 records, the alerts workers read them back, and both
must agree on these (issue #13, docs/alerts.md)."""

from __future__ import annotations

import re
import secrets

ID = re.compile(r"^ss_[A-Za-z0-9_-]{22}$")

# SavedSearch.mode (alerts.proto) -> the saved_searches.mode column; UNSPECIFIED is HYBRID.
MODES = {0: "HYBRID", 1: "HYBRID", 2: "SEMANTIC", 3: "KEYWORD"}
# Delivery.email_schedule -> the email_schedule column; UNSPECIFIED is no email.
SCHEDULES: dict[int, str | None] = {0: None, 1: "IMMEDIATE", 2: "DAILY"}
EMAIL_SCHEDULES = ("IMMEDIATE", "DAILY")


def new_id() -> str:
    """A fresh id: "ss_" and 16 random bytes, url-safe (22 characters)."""
    return "ss_" + secrets.token_urlsafe(16)
