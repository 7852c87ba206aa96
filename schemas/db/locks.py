"""The PostgreSQL advisory-lock keys: every job that serialises on the database, in one list.

An advisory lock is database-wide and named by one bigint, so two jobs that happened to
pick the same key would block (or, with ``pg_try_advisory_lock``, silently skip) each
other. Declaring every key here keeps them distinct (a unit test checks) and says who
takes which. The values spell four ASCII letters so they are recognisable in ``pg_locks``.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique  # two jobs on one key is an import error, not a silent alias
class AdvisoryLock(IntEnum):
    """One key per job; pass ``AdvisoryLock.X`` as the ``pg_*advisory_lock($1)`` argument."""

    # schemas.db.migrate, held while migrations apply: `jobstream up` and workers starting
    # together must not apply one twice.
    MIGRATIONS = 0x6A6F_6273  # "jobs"
    # streams.index: one worker at a time creates, rebuilds or drops the vector index
    # (try-lock: the others skip); a rebuild waits for it so no index build races its swap.
    VECTOR_INDEX = 0x6A73_7678  # "jsvx"
    # streams.maintenance.job: one maintenance run at a time, from cron, CLI or admin op.
    MAINTENANCE = 0x6A73_6D6E  # "jsmn"
    # streams.rebuild.run: one rebuild of the read model at a time.
    REBUILD = 0x6A73_7262  # "jsrb"
    # streams.ops.redrive, held by every executed redrive (`jobstream replay --from-dlq`,
    # the admin mutation's worker, the maintenance job): two at once would both read the
    # ledger before either wrote it and re-produce the same letters twice.
    REDRIVE = 0x6A73_7264  # "jsrd"
    # streams.alerts.publisher, held for each publishing round (read back what is on
    # alerts.v1, produce the unpublished ledger rows, mark them): two publishers at once
    # would produce the same rows twice.
    ALERTS_PUBLISH = 0x6A73_616C  # "jsal"
