"""Passwords never printed: schemas.redaction on the URLs and messages the tools print."""

from __future__ import annotations

import pytest

from schemas.redaction import address, redact
from streams.ops.errors import DatabaseUnreachable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql://postgres:pw@127.0.0.1:5433/db",
            "postgresql://postgres:***@127.0.0.1:5433/db",
        ),
        ("redis://:s3cret@127.0.0.1:6380/0", "redis://:***@127.0.0.1:6380/0"),
        ("redis://:p@ss/w@h:1/0", "redis://:***@h:1/0"),  # unencoded "@" and "/" in it
        ("postgresql://u@h/db", "postgresql://u@h/db"),  # no password: nothing to hide
        ("redis://h:6379/0", "redis://h:6379/0"),  # host:port is not user:password
        (
            "connect to postgresql://a:x@h/d failed; redis://:y@r/0 too",
            "connect to postgresql://a:***@h/d failed; redis://:***@r/0 too",
        ),
    ],
)
def test_redact_masks_every_password(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_address_keeps_only_where() -> None:
    assert address("postgresql://postgres:pw@db.internal:5432/jobstream") == (
        "db.internal:5432/jobstream"
    )
    assert address("postgresql://db:5432/x") == "db:5432/x"


def test_database_unreachable_names_the_server_not_the_password() -> None:
    exc = DatabaseUnreachable(
        "postgresql://postgres:pw@db:5432/x", "auth failed for postgresql://postgres:pw@db"
    )
    assert "pw" not in exc.message
    assert "cannot reach PostgreSQL at db:5432/x" in exc.message
