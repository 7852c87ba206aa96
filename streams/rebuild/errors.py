"""Errors of the rebuild and maintenance commands: one sentence an operator can act on."""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_UNREACHABLE = 3
EXIT_BUSY = 4


class RebuildError(Exception):
    """Raised with a complete message; the CLI prints it and exits with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class AlreadyRunning(RebuildError):
    def __init__(self, what: str) -> None:
        super().__init__(
            f"another {what} is already running (PostgreSQL advisory lock held); "
            "wait for it to finish",
            exit_code=EXIT_BUSY,
        )


class DatabaseUnreachable(RebuildError):
    def __init__(self, dsn: str, detail: str) -> None:
        where = dsn.rsplit("@", 1)[-1]  # never print a password
        super().__init__(
            f"cannot reach PostgreSQL at {where} ({detail}); start it with `jobstream up` "
            "or point DATABASE_URL at a running server",
            exit_code=EXIT_UNREACHABLE,
        )


class BrokerUnreachable(RebuildError):
    def __init__(self, servers: str, detail: str) -> None:
        super().__init__(
            f"cannot reach Kafka at {servers} ({detail}); start it with `jobstream up` or "
            "point JOBSTREAM_KAFKA_BOOTSTRAP_SERVERS at a running broker",
            exit_code=EXIT_UNREACHABLE,
        )
