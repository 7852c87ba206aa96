"""The invalidation outbox (migration 0003): written by the sink in each batch's
transaction, deleted once Kafka acked the event. Read by the sink's relay and by every
API instance's outbox watch, so the query that finds late rows lives here once."""

from __future__ import annotations

# Rows older than $1 seconds (an invalidation Kafka has not taken yet), oldest first.
OUTBOX_PENDING = """
SELECT id, payload FROM invalidation_outbox
WHERE created_at < now() - make_interval(secs => $1)
ORDER BY id
LIMIT $2
"""
