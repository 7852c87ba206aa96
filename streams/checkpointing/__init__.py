"""Offsets as checkpoints: a Kafka offset is committed only once everything before it is
durable in PostgreSQL or the dead-letter topic (invariant 3, docs/architecture.md)."""

from streams.checkpointing.offsets import Checkpoints, TopicPartition

__all__ = ["Checkpoints", "TopicPartition"]
