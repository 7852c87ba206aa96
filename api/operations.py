"""Admin operations from the API: publish a command to operations.v1, await the answer.

The API never imports the workers' code (gateway, streams and api share only
``schemas``), so ``redriveDeadLetters`` and ``runMaintenance`` are *requests*: an
``OperationRequested`` on operations.v1 (one partition, owned by one worker of the sink
group), answered by that worker with an ``OperationCompleted`` carrying the same id and
the JSON report of the CLI command it ran. The listener is positioned at the end of the
topic *before* the request is sent, so the answer cannot be missed; the wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiokafka import TopicPartition
from google.protobuf.message import DecodeError

from schemas import kafka
from schemas.errors import UnavailableError
from schemas.jobstream.v1 import ops_pb2
from schemas.settings import Settings

log = structlog.get_logger("api.operations")

DEFAULT_TIMEOUT_S = 60.0
KINDS = {
    "redrive": ops_pb2.OPERATION_KIND_REDRIVE_DEAD_LETTERS,
    "maintenance": ops_pb2.OPERATION_KIND_RUN_MAINTENANCE,
}


class OperationUnavailable(UnavailableError, RuntimeError):
    """Kafka is unreachable, or no worker answered in time."""


@dataclass(frozen=True)
class OperationAnswer:
    id: str
    kind: str
    ok: bool
    error: str | None
    worker: str
    report: dict[str, Any]
    seconds: float


class OperationClient:
    """Sends one request per call and waits for its answer (admin calls are rare)."""

    def __init__(self, settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._settings = settings
        self._timeout_s = timeout_s

    async def run(
        self,
        kind: str,
        *,
        limit: int | None = None,
        error_class: str | None = None,
        requested_by: str = "api",
    ) -> OperationAnswer:
        s = self._settings
        started = time.monotonic()
        op_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        request = ops_pb2.OperationRequested(
            id=op_id,
            kind=KINDS[kind],
            limit=limit or 0,
            error_class=error_class or "",
            requested_by=requested_by,
        )
        request.requested_at.FromDatetime(now)
        request.deadline.FromDatetime(now + timedelta(seconds=self._timeout_s))
        tp = TopicPartition(s.topic_operations, 0)
        consumer = kafka.consumer(s, "api-operations", fetch_max_wait_ms=200)
        producer = kafka.producer(s, "api-operations")
        try:
            try:
                await asyncio.wait_for(consumer.start(), 10)
                await asyncio.wait_for(producer.start(), 10)
                consumer.assign([tp])
                await consumer.seek_to_end(tp)
                await consumer.position(tp)
                await asyncio.wait_for(
                    producer.send_and_wait(
                        s.topic_operations,
                        ops_pb2.OperationEvent(requested=request).SerializeToString(),
                    ),
                    10,
                )
            except Exception as exc:
                raise OperationUnavailable(
                    f"cannot send the {kind} request to Kafka "
                    f"({type(exc).__name__}: {exc}); retry when Kafka is up"
                ) from exc
            log.info("operation requested", id=op_id, kind=kind)
            deadline = started + self._timeout_s
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=250)
                for record in batches.get(tp, []):
                    answer = _answer(record.value, op_id)
                    if answer is not None:
                        return OperationAnswer(
                            id=op_id,
                            kind=kind,
                            ok=answer.ok,
                            error=answer.error or None,
                            worker=answer.worker,
                            report=json.loads(answer.report_json or "{}"),
                            seconds=time.monotonic() - started,
                        )
            raise OperationUnavailable(
                f"no worker answered the {kind} request within {self._timeout_s:.0f} s; "
                "is a worker running? `jobstream up --workers 1` (or `jobstream worker`); "
                "a long operation may still be running: its report is in the worker's log"
            )
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()
            with contextlib.suppress(Exception):
                await consumer.stop()


def _answer(value: bytes | None, op_id: str) -> ops_pb2.OperationCompleted | None:
    try:
        event = ops_pb2.OperationEvent.FromString(value or b"")
    except DecodeError:
        return None
    if event.WhichOneof("event") == "completed" and event.completed.id == op_id:
        return event.completed
    return None
