-- Invalidation outbox: the sink writes the invalidation event of a batch in the batch's own
-- transaction, publishes it to cache-invalidation.v1 after the commit, then deletes the row.
-- A worker killed between the commit and the publish leaves the row behind and any worker
-- re-publishes it (invariant 6 survives kill -9; a duplicate invalidation is harmless).
CREATE TABLE IF NOT EXISTS invalidation_outbox (
    id         bigserial PRIMARY KEY,
    payload    bytea NOT NULL,             -- a serialized jobstream.v1.Invalidation
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The approximate-nearest-neighbour index the workers maintain on postings.embedding
-- (streams/index.py): created once the table is big enough to train it, rebuilt
-- CONCURRENTLY when the table has grown. Readers use it to pick their search parameters.
CREATE TABLE IF NOT EXISTS vector_index (
    name          text PRIMARY KEY,       -- the index's name in pg_class
    method        text NOT NULL,          -- 'ivfflat'
    opclass       text NOT NULL,          -- e.g. 'vector_cosine_ops' (ORDER BY embedding <=> $1)
    lists         integer NOT NULL,
    probes        integer NOT NULL,       -- recommended SET ivfflat.probes for searches
    rows_at_build bigint NOT NULL,
    built_at      timestamptz NOT NULL DEFAULT now(),
    build_seconds double precision NOT NULL
);
