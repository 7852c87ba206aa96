-- Where a reader resumes (issue #13: "the subscription resumes without gaps"). The ledger's
-- `sequence` is drawn when a row is inserted, but two transactions (two alerts workers, or
-- the matcher and a backfill) commit in either order: a reader past sequence 11 would
-- never see a 10 that committed later. `published_sequence` is drawn when the publisher
-- marks a row published -- one round at a time, under its advisory lock, each round one
-- transaction committed before the next begins -- so a row that becomes visible later
-- always has a higher number. NULL until published (and again when a close unpublishes
-- it): readers see an alert once it is on alerts.v1.
ALTER TABLE alerts ADD COLUMN IF NOT EXISTS published_sequence bigint;
CREATE SEQUENCE IF NOT EXISTS alerts_published_sequence;
UPDATE alerts AS a SET published_sequence = o.n
FROM (
    SELECT saved_search_id, posting_id, row_number() OVER (ORDER BY sequence) AS n
    FROM alerts WHERE published
) AS o
WHERE a.saved_search_id = o.saved_search_id AND a.posting_id = o.posting_id
    AND a.published_sequence IS NULL;
SELECT setval('alerts_published_sequence',
    greatest(1, (SELECT coalesce(max(published_sequence), 0) FROM alerts)));
CREATE UNIQUE INDEX IF NOT EXISTS alerts_published_sequence_key ON alerts (published_sequence);
CREATE INDEX IF NOT EXISTS alerts_by_search_published ON alerts (saved_search_id, published_sequence)
    WHERE published_sequence IS NOT NULL;
