"""The real PostgreSQL with pgvector: extension, vector(384), nearest neighbours by cosine,
the migrated postings table against its declaration."""

from __future__ import annotations

import asyncpg
import numpy as np
import pytest
from pgvector.asyncpg import register_vector

from infra.stack.postgres import apply_migrations
from schemas.db.postings import DATABASE_KEPT, TABLE_COLUMNS, UPDATED_AT
from schemas.settings import Settings
from streams.sink.sql import STAGING, create_staging

pytestmark = pytest.mark.integration


async def test_migrations_are_idempotent(stack: Settings) -> None:
    assert await apply_migrations(stack) == []
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
        vector = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname='vector'")
    finally:
        await conn.close()
    assert applied >= 1
    assert vector is not None
    assert tuple(int(x) for x in vector.split(".")[:2]) >= (0, 8)


async def test_the_migrated_postings_table_is_the_declared_one(stack: Settings) -> None:
    """Names, order, types (as PostgreSQL resolves them) and nullability of the columns the
    migrations built equal schemas/db/postings.py's declaration, and the sink's staging
    table agrees. updated_at, kept by the database, may sit anywhere: a migration that adds
    a column appends it after updated_at; the generated search_tsv is not staged."""
    declared = ", ".join(c.definition(stack.embedding_dim) for c in TABLE_COLUMNS)
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        await conn.execute(f"CREATE TEMP TABLE declared_postings ({declared})")
        await conn.execute(create_staging(stack.embedding_dim))
        table = await _columns(conn, "postings")
        expected = await _columns(conn, "declared_postings")
        staging = await _columns(conn, STAGING)
    finally:
        await conn.close()
    assert [c[0] for c in expected] == [c.name for c in TABLE_COLUMNS]
    kept = {c.name for c in DATABASE_KEPT}
    written = [c for c in expected if c[0] not in kept]
    assert [c for c in table if c[0] not in kept] == written
    assert [c for c in table if c[0] == UPDATED_AT.name] == [
        c for c in expected if c[0] == UPDATED_AT.name
    ]
    assert [c for c in table if c[0] in kept - {UPDATED_AT.name}] == [
        c for c in expected if c[0] in kept - {UPDATED_AT.name}
    ]
    assert staging == [("n", "integer", False), *written]


async def _columns(conn: asyncpg.Connection, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, nullable) of a table's columns in table order, from pg_catalog."""
    rows = await conn.fetch(
        "SELECT attname, format_type(atttypid, atttypmod) AS type, NOT attnotnull AS nullable"
        " FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped"
        " ORDER BY attnum",
        table,
    )
    return [(r["attname"], r["type"], r["nullable"]) for r in rows]


async def test_vector_column_nearest_neighbours_by_cosine(stack: Settings) -> None:
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(4, 384)).astype(np.float32)
    vectors = np.repeat(centers, 25, axis=0) + rng.normal(scale=0.05, size=(100, 384))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)

    conn = await asyncpg.connect(stack.postgres_dsn)
    await register_vector(conn)
    try:
        await conn.execute(
            "CREATE TEMP TABLE docs (id int PRIMARY KEY, cluster int, embedding vector(384))"
        )
        await conn.executemany(
            "INSERT INTO docs VALUES ($1, $2, $3)",
            [(i, i // 25, vectors[i]) for i in range(100)],
        )
        await conn.execute("CREATE INDEX ON docs USING hnsw (embedding vector_cosine_ops)")
        query = centers[2] / np.linalg.norm(centers[2])
        rows = await conn.fetch(
            "SELECT id, cluster, 1 - (embedding <=> $1) AS score FROM docs "
            "ORDER BY embedding <=> $1 LIMIT 10",
            query,
        )
        with pytest.raises(asyncpg.DataError, match="expected 384 dimensions"):
            await conn.execute("INSERT INTO docs VALUES (1000, 0, $1)", np.ones(3, np.float32))
    finally:
        await conn.close()

    assert [r["cluster"] for r in rows] == [2] * 10
    exact = vectors[50:75] @ query
    assert {r["id"] for r in rows} == {50 + i for i in np.argsort(-exact)[:10]}
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
