-- Live postings per embedding model (jobstream status, the API's /health; issue #12):
-- a small partial B-tree that the GROUP BY reads by an index-only scan instead of the
-- whole table (100,000 postings: ~90 ms instead of 400-900 ms on 2 busy cores, 88
-- buffers instead of 20,000). Few distinct values, so deduplication keeps it small; the
-- sink maintains it in the upsert's transaction like the other filter indexes.
CREATE INDEX IF NOT EXISTS postings_embedding_model ON postings (embedding_model) WHERE NOT deleted;
