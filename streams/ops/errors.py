"""The one error type of the operator tools (ops, rebuild, maintenance): a message an
operator can act on, and an exit code. Each is a :class:`~schemas.errors.JobStreamError`
of the kind its exit code says (usage: bad input; unreachable: unavailable)."""

from __future__ import annotations

from schemas.errors import BadInputError, JobStreamError, UnavailableError
from schemas.redaction import address, redact

EXIT_FAILED = 1  # the operation ran and failed (refused, unknown group, nothing landed)
EXIT_USAGE = 2  # bad input: flags, datetimes, PARTITION:OFFSET
EXIT_UNREACHABLE = 3  # Kafka or PostgreSQL did not answer
EXIT_BUSY = 4  # another rebuild or maintenance run holds the lock


class OpsError(JobStreamError):
    """Raised with a complete, specific sentence; the CLI prints it and exits ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(OpsError, BadInputError):
    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=EXIT_USAGE)


class BrokerUnreachable(OpsError, UnavailableError):
    def __init__(self, servers: str, detail: str) -> None:
        super().__init__(
            f"cannot reach Kafka at {servers} ({detail}); start it with `jobstream up` or "
            "point JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS at a running broker",
            exit_code=EXIT_UNREACHABLE,
        )


class DatabaseUnreachable(OpsError, UnavailableError):
    def __init__(self, dsn: str, detail: str) -> None:
        super().__init__(
            f"cannot reach PostgreSQL at {address(dsn)} ({redact(detail)}); start it with "
            "`jobstream up` or point DATABASE_URL at a running server",
            exit_code=EXIT_UNREACHABLE,
        )


class AlreadyRunning(OpsError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"another {what} is already running (PostgreSQL advisory lock held); "
            "wait for it to finish",
            exit_code=EXIT_BUSY,
        )
