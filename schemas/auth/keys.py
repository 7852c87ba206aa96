"""Publisher API keys: scopes, the record on ``api-keys.v1``, tokens and their check.

A token reads ``jsk_<id>_<secret>``: ``id`` is 12 hex digits (how the key is looked up and
named in logs and the CLI), ``secret`` is ``secrets.token_urlsafe(32)`` (256 random bits).
Only the secret's SHA-256 is stored. A slow password hash (bcrypt, argon2) defends
guessable human passwords; a 256-bit random secret cannot be guessed, so one SHA-256 is
enough and keeps the check in the microseconds. Digests are compared with
:func:`hmac.compare_digest`, so the time taken says nothing about how much matched.

Secrets live only in :class:`~pydantic.SecretStr` (``**********`` in reprs and logs) and in
what ``jobstream keys create`` prints once; nothing here logs a token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr

from schemas.errors import BadInputError

TOKEN_PREFIX = "jsk_"
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
NAME_RULE = "1-64 chars of letters, digits and . _ -"


class Scope(StrEnum):
    """What a key may do: write postings, or run admin operations."""

    PUBLISH = "publish"
    ADMIN = "admin"


def parse_scopes(values: Iterable[str]) -> frozenset[Scope]:
    """Scopes from their names; BadInputError naming the unknown ones."""
    names = [v.strip().lower() for v in values]
    known = {s.value for s in Scope}
    bad = [n for n in names if n not in known]
    if bad:
        raise BadInputError(
            f"unknown scope(s) {', '.join(map(repr, bad))}; expected {' or '.join(sorted(known))}",
            field="scope",
        )
    if not names:
        raise BadInputError("give at least one --scope (publish or admin)", field="scope")
    return frozenset(Scope(n) for n in names)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: what rate limits, ownership and audit key on."""

    key_id: str
    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise BadInputError(f"key name {name[:80]!r} must be {NAME_RULE}", field="name")
    return name


def digest(secret: str) -> str:
    """The stored form of a secret: hex SHA-256 (see the module docstring for why)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key as recorded on the keys topic; the newest record per id wins."""

    id: str
    name: str
    scopes: frozenset[Scope]
    secret_sha256: str = field(repr=False)
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def principal(self) -> Principal:
        return Principal(self.id, self.name, self.scopes)

    def revoked(self, at: datetime | None = None) -> ApiKey:
        return replace(self, revoked_at=at or datetime.now(UTC))

    def encode(self) -> tuple[bytes, bytes]:
        """Key and value of its record (JSON, readable with any Kafka tool)."""
        value = {
            "id": self.id,
            "name": self.name,
            "scopes": sorted(s.value for s in self.scopes),
            "secret_sha256": self.secret_sha256,
            "created_at": self.created_at.isoformat(),
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
        }
        return self.id.encode(), json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, value: bytes) -> ApiKey:
        """Raise ValueError (or KeyError/TypeError) on a record this version cannot read."""
        data = json.loads(value)
        key_id = str(data["id"])
        if not _KEY_ID.fullmatch(key_id):
            raise ValueError(f"bad key id {key_id[:20]!r}")
        revoked = data.get("revoked_at")
        return cls(
            id=key_id,
            name=str(data["name"]),
            scopes=frozenset(Scope(s) for s in data["scopes"]),
            secret_sha256=str(data["secret_sha256"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            revoked_at=None if revoked is None else datetime.fromisoformat(revoked),
        )


def new_key(name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, SecretStr]:
    """A fresh key and its token (shown once; only its digest is kept)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(key_id, check_name(name), scopes, digest(secret), datetime.now(UTC))
    return key, SecretStr(f"{TOKEN_PREFIX}{key_id}_{secret}")


def split_token(token: str) -> tuple[str, str] | None:
    """``(key id, secret)`` of a well-formed key token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    key_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not secret or not _KEY_ID.fullmatch(key_id):
        return None
    return key_id, secret


def key_file(home: Path, name: str) -> Path:
    """Where ``jobstream keys create NAME --save`` keeps a token: JOBSTREAM_HOME/keys."""
    return home / "keys" / f"{check_name(name)}.token"


def save_token(path: Path, token: SecretStr) -> None:
    """Write a token readable by its owner only (0600 in a 0700 folder)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token.get_secret_value() + "\n")
    path.chmod(0o600)


def read_token(path: Path) -> SecretStr:
    """The token in a key file; BadInputError naming the file when it has none."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read the key file {path}: {exc}", field="key-file") from None
    if not text or any(c.isspace() for c in text):
        raise BadInputError(f"the key file {path} holds no single token", field="key-file")
    return SecretStr(text)


def bearer(header: str | None) -> str | None:
    """The token of an ``authorization: Bearer <token>`` header, else None."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
