-- Job alerts (issue #13). saved_searches is the read model of saved-searches.v1 (the
-- source of truth: `jobstream alerts rebuild` refills it from the topic); alerts is the
-- matcher's ledger: one row per (saved search, posting) ever matched, so a posting alerts
-- a saved search at most once whatever is replayed, and the order in which a saved
-- search's alerts were found (sequence) is what subscriptions and feeds resume from.
CREATE TABLE IF NOT EXISTS saved_searches (
    id                   text PRIMARY KEY,
    secret_sha256        bytea NOT NULL,
    query                text NOT NULL,
    filter               jsonb NOT NULL,          -- PostingFilter.to_dict(), canonical
    mode                 text NOT NULL CHECK (mode IN ('HYBRID', 'SEMANTIC', 'KEYWORD')),
    min_score            real NOT NULL,
    embedding            vector({embedding_dim}), -- the query's ("query: " side); NULL: no query
    embedding_model      text,
    lexemes              text[] NOT NULL DEFAULT '{}',  -- a posting matching lexically holds them all in its search_tsv
    lexical_query        tsquery,                 -- the exact test: search_tsv @@ lexical_query (NULL: no lexical term)
    anchor               text,                    -- one of lexemes, set by a trigger: the matcher's lexical candidate key
    -- the filter as columns, so that "this saved search's filter accepts that posting"
    -- is one indexed SQL predicate (NULL / empty = any)
    experience_min_years integer,
    experience_max_years integer,
    english_levels       text[] NOT NULL DEFAULT '{}',
    remote_modes         text[] NOT NULL DEFAULT '{}',
    employment_types     text[] NOT NULL DEFAULT '{}',
    country_code         text,
    city                 text,
    skills_all           text[] NOT NULL DEFAULT '{}',
    skills_any           text[] NOT NULL DEFAULT '{}',
    salary_min           bigint,
    currency             text,
    posted_after         timestamptz,
    webhook_url          text,
    webhook_signing_secret text,
    email                text,
    email_schedule       text CHECK (email_schedule IN ('IMMEDIATE', 'DAILY')),
    unsubscribe_token    text,
    backfill_days        integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL,
    deleted              boolean NOT NULL DEFAULT false,
    -- where in saved-searches.v1 this row was read (partition, offset): a replay never
    -- applies an older record over a newer one
    source_partition     integer NOT NULL,
    source_offset        bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS saved_searches_lexemes ON saved_searches USING gin (lexemes) WHERE NOT deleted;
-- The matcher's lexical candidates (streams/alerts/matcher.py): a lexical match holds
-- every lexeme, so it holds the anchor, and a posting's candidates are the saved searches
-- anchored at one of its lexemes. The trigger anchors each saved search at the lexeme of
-- its own that anchors the fewest saved searches so far (saved_search_anchors: a
-- balancing heuristic only -- an upsert's BEFORE INSERT also counts a row that then
-- updates -- never a correctness input), so "data engineer" hangs under 'data', not
-- under the 'engin' every engineering posting holds. No lexemes: anchor NULL, a candidate
-- of every posting.
CREATE INDEX IF NOT EXISTS saved_searches_anchor ON saved_searches (anchor)
    INCLUDE (lexemes, id, country_code) WHERE NOT deleted;
CREATE TABLE IF NOT EXISTS saved_search_anchors (
    lexeme   text PRIMARY KEY,
    searches integer NOT NULL
);
CREATE OR REPLACE FUNCTION jobstream_saved_search_anchor() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.lexemes IS NOT DISTINCT FROM OLD.lexemes
            AND (OLD.anchor IS NULL OR OLD.anchor = ANY(NEW.lexemes)) THEN
        NEW.anchor := OLD.anchor;
        RETURN NEW;
    END IF;
    NEW.anchor := (
        SELECT l FROM unnest(NEW.lexemes) AS l
        LEFT JOIN saved_search_anchors AS a ON a.lexeme = l
        ORDER BY coalesce(a.searches, 0), l LIMIT 1
    );
    IF NEW.anchor IS NOT NULL THEN
        INSERT INTO saved_search_anchors AS a VALUES (NEW.anchor, 1)
        ON CONFLICT (lexeme) DO UPDATE SET searches = a.searches + 1;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS saved_searches_anchor ON saved_searches;
CREATE TRIGGER saved_searches_anchor BEFORE INSERT OR UPDATE ON saved_searches
    FOR EACH ROW EXECUTE FUNCTION jobstream_saved_search_anchor();

CREATE TABLE IF NOT EXISTS alerts (
    saved_search_id text NOT NULL,
    posting_id      text NOT NULL,
    version         bigint NOT NULL,
    score           real NOT NULL,
    highlights      jsonb NOT NULL DEFAULT '[]',
    backfill        boolean NOT NULL DEFAULT false,
    closed          boolean NOT NULL DEFAULT false,
    committed_at    timestamptz NOT NULL,
    matched_at      timestamptz NOT NULL DEFAULT now(),
    sequence        bigserial UNIQUE,
    published       boolean NOT NULL DEFAULT false,  -- on alerts.v1 (acked)
    PRIMARY KEY (saved_search_id, posting_id)
);
CREATE INDEX IF NOT EXISTS alerts_unpublished ON alerts (sequence) WHERE NOT published;
CREATE INDEX IF NOT EXISTS alerts_by_search ON alerts (saved_search_id, sequence);

-- The alerts publisher's outbox checkpoint (streams/alerts/publisher.py): per alerts topic
-- partition, the offset past the last record it knows it wrote. On every round it reads
-- the topic from there to its end and marks the alerts found there published before
-- producing the rest, so a publisher killed between produce and mark repeats nothing.
CREATE TABLE IF NOT EXISTS alerts_publisher_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
