-- The alerts matcher keeps the saved searches in memory (streams/alerts/candidates.py) and
-- refreshes them before every batch with the rows written since it last looked. A
-- timestamp cannot say "since": a transaction may commit after a later one that wrote a
-- bigger value. The writing transaction's id can: every transaction that had not
-- committed when a snapshot was taken has an id >= that snapshot's xmin, so reading the
-- rows with written_xid >= the previous snapshot's xmin never misses one.
ALTER TABLE saved_searches
    ADD COLUMN IF NOT EXISTS written_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX IF NOT EXISTS saved_searches_written_xid ON saved_searches (written_xid);
CREATE OR REPLACE FUNCTION jobstream_saved_search_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.written_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS saved_searches_written ON saved_searches;
CREATE TRIGGER saved_searches_written BEFORE INSERT OR UPDATE ON saved_searches
    FOR EACH ROW EXECUTE FUNCTION jobstream_saved_search_written();
-- The IVFFlat index on saved-query vectors is no longer used: the matcher's in-memory
-- pass is exact and faster (tests/bench/results/alerts.json).
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = 'saved_searches'::regclass
            AND c.relname LIKE 'saved_searches_embedding_ivfflat%'
    LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I', r.relname);
    END LOOP;
END $$;
