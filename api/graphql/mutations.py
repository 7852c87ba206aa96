"""Mutations write events to Kafka, never the read model; the sink applies them.

Each builds the NDJSON shape, runs the gateway's validation
(:func:`schemas.domain.parse_json` with ``now``, so posted_at may not be far in the
future), and returns once Kafka acknowledged the event. Validation problems come back
as ``errors`` in the payload (one per field, with the reject reason as ``code``); an
unreachable Kafka is an INTERNAL error saying to retry.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import strawberry

from api.graphql import alerts, operations
from api.graphql.context import ContextInfo
from api.graphql.inputs import PostingInput, embedding_text, input_field, posting_json
from api.graphql.operations import OperationResult
from api.graphql.permissions import CanPublish, IsAdmin
from api.graphql.types import Accepted, CacheFlushResult, FieldError, Long, PublishResult
from schemas.domain import InvalidPosting, Posting, PostingDeleted, parse_json, version_reset


def admin_mutation(*, description: str) -> Any:
    """``@strawberry.mutation`` for admin-only fields: guarded by :class:`IsAdmin`."""
    return strawberry.mutation(permission_classes=[IsAdmin], description=description)


def _rejected(exc: InvalidPosting) -> PublishResult:
    return PublishResult(
        accepted=None,
        errors=[
            FieldError(field=input_field(exc.field), code=exc.reason.name, message=exc.message)
        ],
    )


async def _validate_and_write(
    info: ContextInfo, data: dict[str, Any], now: datetime
) -> PublishResult:
    settings = info.context.settings
    try:
        event: Posting | PostingDeleted = parse_json(data, dim=settings.embedding_dim, now=now)
    except InvalidPosting as exc:
        return _rejected(exc)
    written = await info.context.writer.publish(event)
    return PublishResult(
        accepted=Accepted(id=strawberry.ID(written.id), version=Long(written.version)), errors=[]
    )


@strawberry.type
class Mutation:
    save_search = alerts.SAVE_SEARCH
    delete_saved_search = alerts.DELETE_SAVED_SEARCH

    @strawberry.mutation(
        permission_classes=[CanPublish],
        description="Publish a posting (a new one, or a higher version of an existing one); "
        "needs an API key with the publish scope.",
    )  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def publish_posting(self, info: ContextInfo, input: PostingInput) -> PublishResult:
        now = datetime.now(UTC)
        if input.embedding is not None:
            if not input.embedding_model:
                return PublishResult(
                    accepted=None,
                    errors=[
                        FieldError(
                            field="embeddingModel",
                            code="MISSING_FIELD",
                            message="embeddingModel is required with embedding "
                            "(vectors of different models are never compared)",
                        )
                    ],
                )
            vector, model = list(input.embedding), input.embedding_model
        else:
            embedder = info.context.embedder
            text = embedding_text(input.title, input.skills, input.description)
            rows = await asyncio.to_thread(embedder.embed, [text])
            vector, model = rows[0].tolist(), embedder.name
        data = posting_json(input, embedding=vector, embedding_model=model, now=now)
        return await _validate_and_write(info, data, now)

    @strawberry.mutation(
        permission_classes=[CanPublish],
        description="Delete a posting as of a version (a tombstone event); needs an API key "
        "with the publish scope.",
    )  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def delete_posting(
        self,
        info: ContextInfo,
        id: strawberry.ID,
        version: Long,
    ) -> PublishResult:
        now = datetime.now(UTC)
        data = {
            "id": str(id),
            "version": version,
            "deleted": True,
            "produced_at": now.isoformat(),
            "producer_id": "api",
        }
        return await _validate_and_write(info, data, now)

    @admin_mutation(
        description="Admin: reset a posting's version guard to `version`, whatever its current "
        "version (content and deleted flag unchanged), through an event in the log, so a "
        "runaway version (e.g. deletePosting at 2^63-1) can be undone and later versions land "
        "again. As `jobstream postings reset-version ID --to N`."
    )  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def reset_posting_version(
        self, info: ContextInfo, id: strawberry.ID, version: Long
    ) -> PublishResult:
        try:
            event = version_reset(str(id), version, producer_id="api", now=datetime.now(UTC))
        except InvalidPosting as exc:
            return _rejected(exc)
        written = await info.context.writer.publish(event)
        return PublishResult(
            accepted=Accepted(id=strawberry.ID(written.id), version=Long(written.version)),
            errors=[],
        )

    @admin_mutation(description="Admin: drop this process's L1 cache (L2 and generation stay).")  # type: ignore[untyped-decorator]  # strawberry types it Any
    def cache_flush(self, info: ContextInfo) -> CacheFlushResult:
        return CacheFlushResult(cleared=info.context.cache.clear_l1())

    @admin_mutation(
        description="Admin: redrive dead letters to postings.v1, exactly as "
        "`jobstream replay --from-dlq --execute [--limit N] [--error-class C]` does (run by "
        "a worker; letters redriven before are skipped). Waits up to 60 s for the answer."
    )  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def redrive_dead_letters(
        self, info: ContextInfo, limit: int | None = None, error_class: str | None = None
    ) -> OperationResult:
        return await operations.run(
            info.context.settings, "redrive", limit=limit, error_class=error_class
        )

    @admin_mutation(
        description="Admin: run the maintenance job now, exactly as `jobstream maintenance "
        "run` does (run by a worker). Waits up to 60 s for the answer."
    )  # type: ignore[untyped-decorator]  # strawberry types it Any
    async def run_maintenance(self, info: ContextInfo) -> OperationResult:
        return await operations.run(info.context.settings, "maintenance")
