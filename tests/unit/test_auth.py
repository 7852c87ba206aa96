"""Publisher API keys: tokens, records and the one check (no Kafka: the ring is filled)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from schemas.auth import ApiKey, KeyRing, Scope, new_key, parse_scopes
from schemas.auth.keys import bearer, split_token
from schemas.errors import (
    BadInputError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from schemas.settings import Settings

PUBLISH = frozenset({Scope.PUBLISH})


def ring(*keys: ApiKey, loaded: bool = True, **settings: object) -> KeyRing:
    # Explicit tokens: the session's stack sets JOBSTREAM_INGEST_TOKEN in the environment.
    settings = {"ingest_token": None, "admin_token": None, **settings}
    result = KeyRing(Settings(**settings), "test")  # type: ignore[arg-type]  # test values
    result._keys = {k.id: k for k in keys}
    if loaded:
        result._loaded.set()
    return result


def test_token_round_trip_and_record_codec() -> None:
    key, token = new_key("ci", PUBLISH)
    parts = split_token(token.get_secret_value())
    assert parts is not None
    assert parts[0] == key.id
    assert "jsk_" not in repr(key)
    assert key.secret_sha256 not in repr(key)
    assert token.get_secret_value() not in repr(token)
    assert ApiKey.decode(key.encode()[1]) == key
    assert ApiKey.decode(key.revoked().encode()[1]).active is False
    assert bearer("Bearer  abc ") == "abc"
    assert bearer("Basic abc") is None
    assert bearer(None) is None


@pytest.mark.parametrize("token", ["jsk_", "jsk_zz_x", "jsk_0123456789ab", "nope"])
def test_malformed_tokens_do_not_split(token: str) -> None:
    assert split_token(token) is None


def test_scopes_and_names_are_checked() -> None:
    assert parse_scopes(["Publish", "admin"]) == {Scope.PUBLISH, Scope.ADMIN}
    with pytest.raises(BadInputError, match="'write'"):
        parse_scopes(["write"])
    with pytest.raises(BadInputError, match="at least one"):
        parse_scopes([])
    with pytest.raises(BadInputError, match="1-64 chars"):
        new_key("no spaces", PUBLISH)


def test_authorize_keys_scopes_and_revocation() -> None:
    key, token = new_key("ci", PUBLISH)
    header = f"Bearer {token.get_secret_value()}"
    keys = ring(key)
    principal = keys.authorize(header, Scope.PUBLISH)
    assert (principal.key_id, principal.name) == (key.id, "ci")
    with pytest.raises(PermissionDeniedError, match="lacks the `admin` scope"):
        keys.authorize(header, Scope.ADMIN)
    wrong = header[:-2] + ("AA" if not header.endswith("AA") else "BB")
    with pytest.raises(UnauthenticatedError, match="not valid"):
        keys.authorize(wrong, Scope.PUBLISH)
    with pytest.raises(UnauthenticatedError, match="was revoked"):
        ring(key.revoked(), new_key("other", PUBLISH)[0]).authorize(header, Scope.PUBLISH)
    with pytest.raises(UnauthenticatedError, match="send `authorization: Bearer"):
        keys.authorize(None, Scope.PUBLISH)
    with pytest.raises(UnavailableError, match="not loaded"):
        ring(key, loaded=False).authorize(header, Scope.PUBLISH)


def test_nothing_configured_says_how_to_create_a_key() -> None:
    with pytest.raises(UnauthenticatedError, match="jobstream keys create NAME --scope publish"):
        ring().authorize(None, Scope.PUBLISH)
    key, _ = new_key("ci", PUBLISH)
    with pytest.raises(UnauthenticatedError, match="JOBSTREAM_ADMIN_TOKEN"):
        ring(key).authorize(None, Scope.ADMIN)


def test_bootstrap_tokens_have_one_scope_each() -> None:
    keys = ring(ingest_token=SecretStr("ingest-secret"), admin_token=SecretStr("admin-secret"))
    assert keys.authorize("Bearer ingest-secret", Scope.PUBLISH).key_id == "bootstrap-publish"
    assert keys.authorize("Bearer admin-secret", Scope.ADMIN).key_id == "bootstrap-admin"
    with pytest.raises(PermissionDeniedError):
        keys.authorize("Bearer ingest-secret", Scope.ADMIN)
    with pytest.raises(UnauthenticatedError, match="not valid"):
        keys.authorize("Bearer admin-secreT", Scope.ADMIN)
