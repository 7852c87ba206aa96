"""The worker's side of admin operations: run a requested operation, publish the answer.

The API publishes ``OperationRequested`` on operations.v1 (one partition, so one worker
of the group owns it) and waits for the ``OperationCompleted`` with the same id. The
worker runs exactly what the CLI runs -- :func:`streams.ops.redrive.redrive` for
``jobstream replay --from-dlq --execute``, :func:`run_maintenance` for ``jobstream
maintenance run`` -- and answers with the same JSON report. A request found after its
deadline (an old one, re-read after a rebalance or by a new group) is skipped: nobody
waits for it, and re-running an old redrive is not what anyone asked for.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from google.protobuf.message import DecodeError

from schemas.jobstream.v1 import ops_pb2
from schemas.settings import Settings
from streams.maintenance.job import run_maintenance

log = structlog.get_logger("streams.operations")

Publish = Callable[[bytes], Awaitable[None]]
# How long a requested redrive waits for the sink to land what it re-produced: well
# inside the API's 60 s wait (what has not landed yet is reported as pending).
REDRIVE_WAIT_S = 20.0


async def run_operation(settings: Settings, request: ops_pb2.OperationRequested) -> dict[str, Any]:
    """The JSON report of the CLI command the request stands for."""
    if request.kind == ops_pb2.OPERATION_KIND_RUN_MAINTENANCE:
        return (await run_maintenance(settings)).to_json()
    if request.kind == ops_pb2.OPERATION_KIND_REDRIVE_DEAD_LETTERS:
        from streams.ops.redrive import redrive

        report = await redrive(
            settings,
            limit=request.limit or None,
            error_class=request.error_class or None,
            execute=True,
            wait_s=REDRIVE_WAIT_S,
        )
        doc: dict[str, Any] = report.to_json()
        return doc
    raise ValueError(f"unknown operation kind {request.kind}")


async def handle(settings: Settings, value: bytes | None, publish: Publish, worker: str) -> bool:
    """Run one record of operations.v1 if it is a live request; returns whether it ran."""
    try:
        event = ops_pb2.OperationEvent.FromString(value or b"")
    except DecodeError:
        log.warning("undecodable operations record skipped")
        return False
    if event.WhichOneof("event") != "requested":
        return False  # an answer (ours or another worker's)
    request = event.requested
    now = datetime.now(UTC)
    if request.HasField("deadline") and request.deadline.ToDatetime(UTC) < now:
        log.info("expired operation request skipped", id=request.id, kind=request.kind)
        return False
    log.info("operation requested", id=request.id, kind=request.kind, by=request.requested_by)
    done = ops_pb2.OperationCompleted(id=request.id, kind=request.kind, worker=worker)
    try:
        done.report_json = json.dumps(await run_operation(settings, request))
        done.ok = True
    except Exception as exc:  # the caller gets the reason; the worker goes on
        done.ok = False
        done.error = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.warning("operation failed", id=request.id, error=done.error)
    done.completed_at.FromDatetime(datetime.now(UTC))
    await publish(ops_pb2.OperationEvent(completed=done).SerializeToString())
    log.info("operation completed", id=request.id, ok=done.ok)
    return True


async def publish_once(settings: Settings, payload: bytes) -> None:
    """Send one answer (acks=all) with a short-lived producer: operations are rare."""
    from streams.ops.kafka import producer

    async with producer(settings, role="operations") as client:
        await client.send_and_wait(settings.topic_operations, payload)
