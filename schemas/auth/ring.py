"""The keys every gateway and API instance knows, and the one check both surfaces run.

Keys are events: ``jobstream keys create`` / ``revoke`` write a record per key id to the
compacted ``api-keys.v1`` topic (a revocation is a newer record of the same id), and a
:class:`KeyRing` reads the topic to its end at start and then keeps tailing it, so a key
created or revoked anywhere is honoured everywhere within about a second. The log is the
truth here too (invariant 1, docs/architecture.md): no database holds keys.

Beside the keys, two bootstrap tokens from the settings are honoured (so a stack works
before any key exists, and old deployments keep working): ``JOBSTREAM_INGEST_TOKEN`` with
the publish scope and ``JOBSTREAM_ADMIN_TOKEN`` with the admin scope. With neither a key
nor a bootstrap token for a scope, requests needing it are refused with how to create one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from schemas import kafka
from schemas.auth.keys import ApiKey, Principal, Scope, bearer, digest, same_digest, split_token
from schemas.errors import PermissionDeniedError, UnauthenticatedError, UnavailableError
from schemas.settings import Settings
from schemas.topics import create_missing, topic_spec

log = structlog.get_logger("schemas.auth")

BOOTSTRAP_PUBLISH = Principal(
    "bootstrap-publish", "JOBSTREAM_INGEST_TOKEN", frozenset({Scope.PUBLISH})
)
BOOTSTRAP_ADMIN = Principal("bootstrap-admin", "JOBSTREAM_ADMIN_TOKEN", frozenset({Scope.ADMIN}))
_BOOTSTRAP_SETTING = {Scope.PUBLISH: "JOBSTREAM_INGEST_TOKEN", Scope.ADMIN: "JOBSTREAM_ADMIN_TOKEN"}
POLL_MS = 500


def how_to_create(scope: Scope) -> str:
    return f"create one with `jobstream keys create NAME --scope {scope.value}`"


class KeyRing:
    """``key id -> ApiKey`` from the keys topic, plus the bootstrap tokens; see the module."""

    def __init__(self, settings: Settings, role: str, *, timeout_s: float = 30.0) -> None:
        self._settings = settings
        self._role = role
        self._timeout_s = timeout_s
        self._tp = TopicPartition(settings.topic_api_keys, 0)
        self._keys: dict[str, ApiKey] = {}
        self._loaded = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bootstrap: list[tuple[str, Principal]] = [
            (digest(secret.get_secret_value()), principal)
            for secret, principal in (
                (settings.ingest_token, BOOTSTRAP_PUBLISH),
                (settings.admin_token, BOOTSTRAP_ADMIN),
            )
            if secret is not None and secret.get_secret_value()
        ]

    # --- lifecycle --------------------------------------------------------------------
    async def start(self, *, required: bool = True) -> None:
        """Load the topic to its end, then keep tailing it in the background.

        ``required``: raise UnavailableError when the keys cannot be read within the
        timeout (the gateway); otherwise go on and keep trying (the API serves reads while
        Kafka is down, and refuses key-authenticated writes until the keys are loaded).
        """
        self._task = asyncio.create_task(self._run(), name=f"key-ring-{self._role}")
        try:
            await asyncio.wait_for(self._loaded.wait(), self._timeout_s)
        except TimeoutError:
            if required:
                await self.stop()
                raise UnavailableError(
                    f"cannot read the API keys from {self._tp.topic} within "
                    f"{self._timeout_s:.0f} s; is Kafka up (`jobstream up`)?"
                ) from None
            log.warning("api keys not loaded yet; retrying", topic=self._tp.topic)
        else:
            log.info("api keys loaded", topic=self._tp.topic, keys=len(self._keys))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def keys(self) -> Iterator[ApiKey]:
        """Every key known, revoked ones included, oldest first."""
        return iter(sorted(self._keys.values(), key=lambda k: (k.created_at, k.id)))

    # --- the check --------------------------------------------------------------------
    def authorize(self, authorization: str | None, scope: Scope) -> Principal:
        """The principal of an ``authorization`` header allowed ``scope``, else raise.

        UnauthenticatedError: no usable token, an unknown, wrong or revoked one, or no key
        configured for the scope at all; PermissionDeniedError: a valid key without the
        scope; UnavailableError: a key token while the keys are not loaded yet.
        """
        token = bearer(authorization)
        if token is None:
            raise self._missing(scope)
        try:
            principal = self._identify(token)
        except UnauthenticatedError:
            if not self._configured(scope):
                raise self._missing(scope) from None
            raise
        if not principal.allows(scope):
            raise PermissionDeniedError(
                f"API key {principal.name!r} ({principal.key_id}) lacks the `{scope.value}` "
                f"scope; {how_to_create(scope)}"
            )
        return principal

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal of a valid key in an ``authorization`` header, whatever its
        scopes; None for no, an invalid or a revoked key (what rate limits key on)."""
        token = bearer(authorization)
        if token is None:
            return None
        try:
            return self._identify(token)
        except (UnauthenticatedError, UnavailableError):
            return None

    def _missing(self, scope: Scope) -> UnauthenticatedError:
        if not self._configured(scope):
            return UnauthenticatedError(
                f"no API key with the `{scope.value}` scope is configured: "
                f"{how_to_create(scope)} (or set {_BOOTSTRAP_SETTING[scope]}), then send "
                "`authorization: Bearer <token>`"
            )
        return UnauthenticatedError(
            f"this needs an API key with the `{scope.value}` scope: send "
            "`authorization: Bearer <token>`"
        )

    def _identify(self, token: str) -> Principal:
        presented = digest(token)
        found: Principal | None = None
        for stored, principal in self._bootstrap:  # all compared: no early exit
            if same_digest(presented, stored):
                found = principal
        if found is not None:
            return found
        parts = split_token(token)
        if parts is None:
            raise UnauthenticatedError("the API key is not valid")
        key_id, secret = parts
        if not self.loaded:
            raise UnavailableError("the API keys are not loaded yet (Kafka unreachable); retry")
        key = self._keys.get(key_id)
        # Compare even for an unknown id, so its absence costs the same time.
        stored = key.secret_sha256 if key is not None else "0" * 64
        if not same_digest(digest(secret), stored) or key is None:
            raise UnauthenticatedError("the API key is not valid")
        if not key.active:
            raise UnauthenticatedError(f"API key {key.name!r} ({key.id}) was revoked")
        return key.principal

    def _configured(self, scope: Scope) -> bool:
        if any(scope in p.scopes for _, p in self._bootstrap):
            return True
        if not self.loaded:
            return True  # unknown yet: ask for a key rather than claim there is none
        return any(k.active and scope in k.scopes for k in self._keys.values())

    # --- reading the topic ------------------------------------------------------------
    async def _run(self) -> None:
        """Read, tail, and on any failure start over from the beginning after a pause."""
        while True:
            consumer: AIOKafkaConsumer | None = None
            try:
                await ensure_topic(self._settings, self._role)
                consumer = kafka.consumer(
                    self._settings,
                    f"keys-{self._role}",
                    auto_offset_reset="earliest",
                    fetch_max_wait_ms=100,
                    request_timeout_ms=10_000,
                )
                await consumer.start()
                consumer.assign([self._tp])
                await consumer.seek_to_beginning(self._tp)
                keys: dict[str, ApiKey] = {}
                end = (await consumer.end_offsets([self._tp]))[self._tp]
                while await consumer.position(self._tp) < end:
                    self._apply(keys, await consumer.getmany(self._tp, timeout_ms=POLL_MS))
                self._keys = keys
                self._loaded.set()
                while True:
                    self._apply(self._keys, await consumer.getmany(self._tp, timeout_ms=POLL_MS))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("api keys: cannot read the topic; retrying", error=repr(exc))
                await asyncio.sleep(1.0)
            finally:
                if consumer is not None:
                    with contextlib.suppress(Exception):
                        await consumer.stop()

    def _apply(
        self, keys: dict[str, ApiKey], batches: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        for record in batches.get(self._tp, ()):
            if record.value is None:  # a tombstone: the key is forgotten
                if record.key is not None:
                    keys.pop(bytes(record.key).decode("utf-8", "replace"), None)
                continue
            try:
                key = ApiKey.decode(bytes(record.value))
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable api key record", offset=record.offset)
                continue
            keys[key.id] = key


async def ensure_topic(settings: Settings, role: str) -> None:
    """Create the keys topic as `jobstream up` would, when a process comes first."""
    admin = kafka.admin(settings, f"keys-{role}", request_timeout_ms=10_000)
    await admin.start()
    try:
        await create_missing(admin, [topic_spec(settings, settings.topic_api_keys)])
    finally:
        await admin.close()


async def write_key(settings: Settings, key: ApiKey, *, timeout_s: float = 15.0) -> None:
    """Record a key (new or revoked) durably; UnavailableError when Kafka does not ack."""
    producer = kafka.producer(settings, "keys", request_timeout_ms=int(timeout_s * 1000))
    record_key, value = key.encode()
    try:
        await asyncio.wait_for(ensure_topic(settings, "writer"), timeout_s)
        await asyncio.wait_for(producer.start(), timeout_s)
        await asyncio.wait_for(
            producer.send_and_wait(settings.topic_api_keys, value, key=record_key, partition=0),
            timeout_s,
        )
    except (KafkaError, OSError, TimeoutError) as exc:
        raise UnavailableError(
            f"Kafka at {settings.kafka_bootstrap_servers} did not acknowledge the key record "
            f"({type(exc).__name__}); is it up (`jobstream up`)?"
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await producer.stop()
