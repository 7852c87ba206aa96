"""Is a failure about one record (dead-letter it) or about the world (retry, hold the offset)?

Invariant 5 (docs/architecture.md): a transient failure is never dead-lettered. So only
errors that are a property of the *data* count as poison -- SQLSTATE class 22 (data
exception) and 23 (integrity constraint violation), and asyncpg refusing to encode a value.
Everything else the database or the network says (connection lost, server starting or
shutting down, too many connections, serialization failure, deadlock, disk full, even a
missing table before migrations ran) is retried with backoff while the offset is held: stuck
is recoverable, a wrongly dead-lettered posting is data loss until someone replays it.
"""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError, KafkaTimeoutError
from asyncpg.exceptions import _base as asyncpg_base

from schemas.db.errors import is_connection_error

__all__ = ["describe", "error_class", "is_connection_error", "is_poison", "is_transient"]

POISON_SQLSTATE_CLASSES = frozenset({"22", "23"})


def is_poison(exc: BaseException) -> bool:
    """True when the error is caused by the record's data (deterministic on retry)."""
    if isinstance(exc, asyncpg_base.DataError):  # client side: value cannot be encoded
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", None) or ""
        return state[:2] in POISON_SQLSTATE_CLASSES
    return False


def is_transient(exc: BaseException) -> bool:
    """True when retrying later may succeed; unknown programming errors are neither.

    Kafka: retriable errors (broker down, leader moving, not enough replicas) and send
    timeouts. A non-retriable one (authorization, record too large for the broker) is
    not retried forever: the worker crashes and holds its offsets for an operator.
    """
    if is_poison(exc):
        return False
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or isinstance(exc, KafkaTimeoutError)
    return is_connection_error(exc) or isinstance(exc, asyncpg.PostgresError)


def error_class(exc: BaseException) -> str:
    """Stable DLQ/metrics label for a database rejection, e.g. ``db_check_violation``."""
    name = type(exc).__name__.removesuffix("Error")
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return f"db_{snake}"


def describe(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    detail = getattr(exc, "detail", None)
    text = f"{type(exc).__name__}: {exc}"
    if state:
        text += f" (SQLSTATE {state})"
    if detail and detail not in text:
        text += f"; {detail}"
    return text
