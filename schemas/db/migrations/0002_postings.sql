-- The read model: one row per posting id, the highest version seen.
-- A delete keeps the row as a tombstone (deleted = true, content NULL) so that an older
-- upsert arriving later is still rejected by the version check (invariant 4).
-- NULL embeddings (tombstones) are never in a vector index.
CREATE TABLE IF NOT EXISTS postings (
    id                   text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:-]{1,128}$'),
    version              bigint NOT NULL CHECK (version > 0),
    deleted              boolean NOT NULL DEFAULT false,
    title                text,
    company              text,
    city                 text,
    country_code         text,
    remote_mode          text,
    employment_type      text,
    experience_min_years smallint,
    experience_max_years smallint,
    english_level        text,
    skills               text[] NOT NULL DEFAULT '{}',
    salary_min           bigint,
    salary_max           bigint,
    salary_currency      text,
    description          text,
    posted_at            timestamptz,
    embedding            vector({embedding_dim}),
    embedding_model      text,
    produced_at          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT live_posting_has_content CHECK (
        deleted OR (title IS NOT NULL AND company IS NOT NULL AND embedding IS NOT NULL)
    ),
    CONSTRAINT tombstone_has_no_content CHECK (NOT deleted OR embedding IS NULL)
);

-- Filters of the search API.
CREATE INDEX IF NOT EXISTS postings_posted_at ON postings (posted_at) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS postings_country_city ON postings (country_code, city) WHERE NOT deleted;
CREATE INDEX IF NOT EXISTS postings_skills ON postings USING gin (skills) WHERE NOT deleted;
