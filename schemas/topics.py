"""The platform's Kafka topics and how each is configured.

postings.v1 is the source of truth (invariant 1), so it keeps every event: no time or
size retention and no compaction (compaction leaves offset gaps that Faust mishandles).
Dead letters are kept forever too: a poison record never vanishes (invariant 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.settings import Settings

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    return [
        TopicSpec(settings.topic_postings, settings.topic_partitions, dict(KEEP_FOREVER)),
        TopicSpec(settings.topic_dead_letters, 1, dict(KEEP_FOREVER)),
        TopicSpec(
            settings.topic_invalidations,
            1,
            {
                "retention.ms": str(settings.invalidation_retention_ms),
                "cleanup.policy": "delete",
            },
        ),
    ]
