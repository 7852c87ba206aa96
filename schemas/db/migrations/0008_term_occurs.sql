-- Does any live posting contain these words? One GIN probe (issue #12). Inline, as
-- EXISTS (... search_tsv @@ q), the planner expects a tsquery built at run time to match
-- often and scans the table until the first match: for a word nothing contains (Korean
-- words against English postings, typos) that reads every posting (~27 ms at 20,000).
-- A function with its own enable_seqscan = off is planned apart with the GIN index
-- (postings_search_tsv); its body names `postings` at run time, so a rebuild's swap
-- holds.
CREATE FUNCTION jobstream_occurs(q tsquery) RETURNS boolean
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET enable_seqscan = off
AS $$ SELECT EXISTS (SELECT 1 FROM postings WHERE NOT deleted AND search_tsv @@ q) $$;
