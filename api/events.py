"""Writing posting events to postings.v1 from the API, exactly as the gateway does.

One record per event (the gateway's ``event`` layout): key = posting id, value =
``encode_event(event)``, headers ``content-type`` (:data:`CONTENT_TYPE_EVENT`) and
``producer-id: api``, plus the GraphQL operation's trace context (``traceparent``, which the
sink's batch span links to). The producer is acks=all and idempotent, and :meth:`publish`
returns only after Kafka acknowledged the record, so an accepted mutation is durably in
the log (invariant 2, docs/architecture.md). The API never writes the read model; the
sink does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaProducer

from schemas import kafka
from schemas.domain import LogEvent, encode_event
from schemas.errors import UnavailableError
from schemas.settings import Settings
from schemas.topics import CONTENT_TYPE_EVENT
from schemas.tracing import kafka_headers

log = structlog.get_logger("api.events")

PRODUCER_ID = "api"


class EventLogUnavailable(UnavailableError, RuntimeError):
    """Kafka did not acknowledge the event; nothing is known to be written: retry."""


@dataclass(frozen=True, slots=True)
class Written:
    """Where an acknowledged event landed."""

    id: str
    version: int
    partition: int
    offset: int


class EventWriter:
    """Owns the API's one Kafka producer, started lazily so the API can serve reads
    (and report Kafka in /health) while the broker is still coming up."""

    def __init__(self, settings: Settings, *, timeout_s: float = 30.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._headers = [
            ("producer-id", PRODUCER_ID.encode()),
            ("content-type", CONTENT_TYPE_EVENT.encode()),
        ]

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connect now; failures are logged and retried on the first publish."""
        try:
            await self._ensure()
        except EventLogUnavailable as exc:
            log.warning("kafka producer not started; will retry on first write", error=str(exc))

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is not None:
                return self._producer
            producer = kafka.producer(
                self._settings, "api", request_timeout_ms=int(self._timeout_s * 1000)
            )
            try:
                await asyncio.wait_for(producer.start(), self._timeout_s)
            except Exception as exc:
                await producer.stop()
                raise EventLogUnavailable(f"cannot connect to Kafka: {exc!r}") from exc
            self._producer = producer
            return producer

    async def stop(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None

    async def publish(self, event: LogEvent) -> Written:
        """Write one validated event and wait for Kafka's ack (acks=all)."""
        producer = await self._ensure()
        try:
            meta = await asyncio.wait_for(
                producer.send_and_wait(
                    self._settings.topic_postings,
                    encode_event(event),
                    key=event.id.encode("utf-8"),
                    headers=[*self._headers, *kafka_headers()],
                ),
                self._timeout_s,
            )
        except Exception as exc:
            log.warning("event not acknowledged by kafka", id=event.id, error=repr(exc))
            raise EventLogUnavailable(
                f"Kafka did not acknowledge the event for {event.id!r}; retry the mutation"
            ) from exc
        return Written(event.id, event.version, meta.partition, meta.offset)

    async def send(self, topic: str, key: str, value: bytes, content_type: str) -> None:
        """Write one record of another topic (a saved search) and wait for Kafka's ack,
        through the same producer."""
        producer = await self._ensure()
        headers = [(self._headers[0]), ("content-type", content_type.encode())]
        try:
            await asyncio.wait_for(
                producer.send_and_wait(topic, value, key=key.encode("utf-8"), headers=headers),
                self._timeout_s,
            )
        except Exception as exc:
            log.warning("record not acknowledged by kafka", topic=topic, key=key, error=repr(exc))
            raise EventLogUnavailable(
                f"Kafka did not acknowledge the record for {key!r}; retry"
            ) from exc
