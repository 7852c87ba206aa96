"""Backfill: a new saved search's best matches among the postings of its last N days.

When a saved search asking for ``backfill_days`` is first materialised, the live postings
posted within ``backfill_days`` before it was created that match it -- by the matcher's
own predicate (:mod:`streams.alerts.sql`) -- go into the alerts ledger, best score first,
at most ``JOBSTREAM_ALERTS_BACKFILL_MAX``, marked ``backfill``. The window is anchored at
the search's creation, not at the time it is materialised, so a replay or a late worker
backfills the same postings. ``ON CONFLICT DO NOTHING`` on the ledger's (saved search,
posting) key: a posting the matcher already alerted is never alerted twice, and the
matcher's publisher puts the new rows on alerts.v1 like any other.
"""

from __future__ import annotations

import asyncpg

from schemas.search.synonyms import SkillAliases
from streams.alerts.sql import SCORE, canonical_skills, match_condition

_SKILLS = canonical_skills("p.skills", "$3::text[]", "$4::text[]")

BACKFILL = f"""
INSERT INTO alerts (saved_search_id, posting_id, version, score, backfill, committed_at)
SELECT s.id, p.id, p.version, m.score, true, p.updated_at
FROM saved_searches AS s
JOIN postings AS p ON NOT p.deleted
    AND p.posted_at > s.created_at - make_interval(days => s.backfill_days)
CROSS JOIN LATERAL (SELECT {SCORE}::real AS score) AS m
WHERE s.id = $1 AND s.backfill_days > 0 AND {match_condition(_SKILLS)}
ORDER BY m.score DESC, p.posted_at DESC, p.id
LIMIT $2
ON CONFLICT (saved_search_id, posting_id) DO NOTHING
"""

# Backfilled already (or alerted at all): a saved search that has ledger rows is not new,
# whatever happened to its saved_searches row (a rebuild empties the table, not the ledger).
HAS_ALERTS = "SELECT EXISTS (SELECT 1 FROM alerts WHERE saved_search_id = $1)"


def alias_params(aliases: SkillAliases) -> tuple[list[str], list[str]]:
    """The alias table as two parallel arrays (alias, canonical) for SQL."""
    pairs = sorted((alias, entry.canonical) for alias, entry in aliases.entries.items())
    return [a for a, _ in pairs], [c for _, c in pairs]


async def backfill(
    conn: asyncpg.Connection, saved_search_id: str, limit: int, aliases: SkillAliases
) -> int:
    """Ledger rows added for ``saved_search_id`` (0 when it has alerts already, is deleted,
    asks for no backfill or matches nothing)."""
    if limit <= 0 or await conn.fetchval(HAS_ALERTS, saved_search_id):
        return 0
    names, canonicals = alias_params(aliases)
    status = await conn.execute(BACKFILL, saved_search_id, limit, names, canonicals)
    return int(status.rsplit(" ", 1)[-1])  # "INSERT 0 <n>"
