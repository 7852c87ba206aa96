"""The platform's Kafka topics and how each is configured.

postings.v1 is the source of truth (invariant 1, docs/architecture.md), so it keeps every
event: no time or size retention and no compaction (compaction leaves offset gaps that
Faust mishandles). Dead letters are kept forever too: a poison record never vanishes
(invariant 5).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from schemas.kafka import MAX_MESSAGE_BYTES
from schemas.settings import Settings

# What a postings.v1 record carries, named by its content-type header: one PostingEvent
# keyed by its id, or a PostingEventPack (no key) of events that all hash to its partition.
CONTENT_TYPE_EVENT = "application/x-protobuf; messageType=jobstream.v1.PostingEvent"
CONTENT_TYPE_PACK = "application/x-jobstream-pack"


def partition_for(posting_id: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for this key (murmur2, like Java).

    The gateway packs events by it and the sink checks pack members against it, so the
    two must agree with each other and with a plain keyed producer.
    """
    key = posting_id.encode("utf-8") if isinstance(posting_id, str) else posting_id
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
# A small table kept as a topic: the latest record per key wins, for ever. Short segments
# and a low dirty ratio let compaction actually run on topics this small.
COMPACTED = {
    "cleanup.policy": "compact",
    "retention.ms": "-1",
    "min.compaction.lag.ms": "60000",
    "segment.ms": str(6 * 3600 * 1000),
    "min.cleanable.dirty.ratio": "0.5",
}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    replicas: int | None = None  # None: as many as there are brokers, up to 3


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every platform topic; each accepts the largest record a client may send, whatever
    the broker's own default."""
    largest = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    specs = [
        TopicSpec(settings.topic_postings, settings.topic_partitions, dict(KEEP_FOREVER)),
        TopicSpec(settings.topic_dead_letters, 1, dict(KEEP_FOREVER)),
        # The gateway's last acked sequence per producer: only the latest value per key
        # matters, and no Faust agent reads it, so compaction is safe here.
        TopicSpec(settings.topic_gateway_sequences, 1, dict(COMPACTED)),
        TopicSpec(
            settings.topic_invalidations,
            # more than one lets several alerts workers share them (docs/alerts.md)
            settings.invalidation_partitions,
            {
                "retention.ms": str(settings.invalidation_retention_ms),
                "cleanup.policy": "delete",
            },
        ),
        # Publisher API keys (schemas/auth): one record per key id, the latest wins
        # (revocation is a newer record), read whole by every gateway and API instance.
        TopicSpec(settings.topic_api_keys, 1, dict(COMPACTED)),
        # Admin operation commands and their completions (streams/maintenance): one
        # partition keeps them in order for the one worker that owns it; only live
        # requesters wait for an answer, so a week is plenty.
        TopicSpec(
            settings.topic_operations,
            1,
            {"retention.ms": str(7 * 24 * 3600 * 1000), "cleanup.policy": "delete"},
        ),
        # Job alerts (issue #13): saved searches are a small table kept as a topic, the
        # source of truth of the saved_searches read model; alerts are kept forever like
        # postings (the subscription resumes from any of them); webhook dead letters too.
        TopicSpec(settings.topic_saved_searches, settings.topic_partitions, dict(COMPACTED)),
        TopicSpec(settings.topic_alerts, settings.topic_partitions, dict(KEEP_FOREVER)),
        TopicSpec(settings.topic_webhook_dead_letters, 1, dict(KEEP_FOREVER)),
    ]
    replication = (
        {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
        if settings.kafka_min_insync_replicas
        else {}
    )
    return [
        TopicSpec(
            t.name,
            t.partitions,
            {**t.config, **largest, **replication},
            settings.kafka_replication_factor,
        )
        for t in specs
    ]


def topic_spec(settings: Settings, name: str) -> TopicSpec:
    """The spec of one platform topic, by its configured name."""
    return next(s for s in topic_specs(settings) if s.name == name)


def redrive_ledger_spec(settings: Settings, dead_letters: str | None = None) -> TopicSpec:
    """Which dead letters of ``dead_letters`` (default postings.v1's DLQ; the webhook DLQ
    has its own) were redriven (streams/ops/ledger.py): created by the first redrive, not
    by `up`. A letter stays in the ledger for good, so it is never redriven twice; the
    hour of compaction lag keeps a running redrive's own records readable."""
    config = {**COMPACTED, "min.compaction.lag.ms": "3600000"}
    config["max.message.bytes"] = str(MAX_MESSAGE_BYTES)
    return TopicSpec(f"{dead_letters or settings.topic_dead_letters}.redriven", 1, config)


async def create_missing(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[str]:
    """Create those of ``specs`` that do not exist yet (with ``admin`` started); return
    their names. Each gets as many replicas as there are brokers, up to three. Existing
    topics are left as they are, and losing a creation race to another process leaves the
    topic existing, which is all that is wanted."""
    existing = set(await admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    if missing:
        brokers = len((await admin.describe_cluster()).get("brokers", ()))
        auto = max(1, min(3, brokers))
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([_new_topic(s, auto) for s in missing])
    return [s.name for s in missing]


def _new_topic(spec: TopicSpec, auto_replicas: int) -> NewTopic:
    """``spec`` as a topic to create: its replicas (or ``auto_replicas``), and an acks=all
    write needing all but one of them (2 of 3), unless the spec says."""
    replicas = spec.replicas or auto_replicas
    config = {"min.insync.replicas": str(max(1, replicas - 1)), **spec.config}
    return NewTopic(spec.name, spec.partitions, replicas, topic_configs=config)
