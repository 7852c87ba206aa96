"""GraphQL shape of admin operations (``redriveDeadLetters``, ``runMaintenance``)."""

from __future__ import annotations

import re
from typing import cast

import strawberry
from strawberry.scalars import JSON

from api.graphql.errors import BadUserInput
from api.operations import OperationAnswer, OperationClient
from schemas.settings import Settings

_ERROR_CLASS = re.compile(r"^[a-z0-9_]{1,64}$")


@strawberry.type(description="What a worker did for an admin operation.")
class OperationResult:
    id: strawberry.ID = strawberry.field(description="The request's id (in the worker's logs).")
    kind: str = strawberry.field(description="redrive or maintenance.")
    ok: bool = strawberry.field(
        description="True when the operation ran and nothing failed (redrive: nothing "
        "failed again or is still pending; maintenance: every step succeeded)."
    )
    error: str | None = strawberry.field(description="Why it could not run, if it could not.")
    worker: str = strawberry.field(description="The worker that ran it (host:pid).")
    seconds: float = strawberry.field(description="From the request to the answer.")
    report: JSON = strawberry.field(
        description="The report, as `jobstream replay --from-dlq --json` / "
        "`jobstream maintenance run --json` print it."
    )


def _result(answer: OperationAnswer) -> OperationResult:
    ok = answer.ok and bool(answer.report.get("ok", True))
    if answer.kind == "redrive" and answer.ok:
        ok = answer.report.get("failed_again", 0) == 0 and answer.report.get("pending", 0) == 0
    return OperationResult(
        id=strawberry.ID(answer.id),
        kind=answer.kind,
        ok=ok,
        error=answer.error,
        worker=answer.worker,
        seconds=round(answer.seconds, 3),
        report=cast(JSON, answer.report),
    )


async def run(
    settings: Settings, kind: str, *, limit: int | None = None, error_class: str | None = None
) -> OperationResult:
    """Validate, request, wait; errors (bad input, OperationUnavailable) become coded
    GraphQL errors by their kind."""
    if limit is not None and limit < 0:
        raise BadUserInput(f"limit must be >= 0 (got {limit})", field="limit")
    if error_class is not None and not _ERROR_CLASS.match(error_class):
        raise BadUserInput(
            "errorClass is a dead-letter error class such as db_check_violation "
            "(lower-case letters, digits, _)",
            field="errorClass",
        )
    answer = await OperationClient(settings).run(kind, limit=limit, error_class=error_class)
    return _result(answer)
