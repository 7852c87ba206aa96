"""The local stack: Kafka, PostgreSQL+pgvector and Redis as processes under one folder."""

from infra.stack.errors import ServiceError

__all__ = ["ServiceError"]
