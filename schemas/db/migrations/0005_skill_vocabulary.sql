-- Typo tolerance for skills (issue #12): every skill the sink has written, trigram
-- indexed, so "kubernets" finds "kubernetes" in a few milliseconds instead of unnesting
-- every posting's skills (~1 s at 100,000 postings). The sink adds a batch's skills in
-- the same statement as its upsert (streams/sink/sql.py); the table only grows, and the
-- API offers a suggestion only when live postings carry it (api/search/skills.py).
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension since 13.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE IF NOT EXISTS skill_vocabulary (skill text PRIMARY KEY);

CREATE INDEX IF NOT EXISTS skill_vocabulary_trgm ON skill_vocabulary USING gin (skill gin_trgm_ops);

INSERT INTO skill_vocabulary (skill)
SELECT DISTINCT unnest(skills) FROM postings WHERE NOT deleted
ON CONFLICT DO NOTHING;
