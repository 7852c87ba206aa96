"""How many live postings carry each embedding model: what status and /health report.

Semantic search compares a query only with postings of the API's model; postings of
another model (a producer on another ``--embedder``, a change of default) are found by
their words alone until they are re-embedded, so operators need to see the split. One
GROUP BY over the live rows, an index-only scan of ``postings_embedding_model`` (migration
0006): ~90 ms at 100,000 postings on 2 busy cores (a sequential scan took 400-900 ms), so
callers on a hot path cache it (``api.health.EmbeddingCensus``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg

NO_MODEL = "(none)"
"""The key of live postings stored without an embedding model name."""

POSTINGS_BY_MODEL_SQL = """
SELECT coalesce(embedding_model, $1) AS model, count(*) AS postings
FROM postings
WHERE NOT deleted
GROUP BY 1
ORDER BY 2 DESC, 1
"""


async def postings_by_model(conn: asyncpg.Connection | asyncpg.Pool) -> dict[str, int]:
    """Live postings per embedding model, most first."""
    rows = await conn.fetch(POSTINGS_BY_MODEL_SQL, NO_MODEL)
    return {str(row["model"]): int(row["postings"]) for row in rows}
