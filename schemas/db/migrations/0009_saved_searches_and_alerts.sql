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
-- the matcher's lexical candidates: a match holds all lexemes, so the first one (streams/alerts/matcher.py)
CREATE INDEX IF NOT EXISTS saved_searches_anchor ON saved_searches ((lexemes[1])) WHERE NOT deleted;

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
