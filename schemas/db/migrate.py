"""Apply schemas/db/migrations/*.sql in order, once each.

Each file runs in its own transaction under an advisory lock, so concurrent `up`s and
workers starting together never apply a migration twice. Files may use
``{embedding_dim}``, filled from the settings, since the vector column's type needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncpg

from schemas.db.locks import AdvisoryLock

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    def sql(self, embedding_dim: int) -> str:
        return self.path.read_text().replace("{embedding_dim}", str(embedding_dim))


def pending_order() -> list[Migration]:
    return [Migration(p.stem, p) for p in sorted(MIGRATIONS.glob("*.sql"))]


async def migrate(conn: asyncpg.Connection, *, embedding_dim: int) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    await conn.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.MIGRATIONS)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for migration in pending_order():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql(embedding_dim))
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                )
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", AdvisoryLock.MIGRATIONS)
