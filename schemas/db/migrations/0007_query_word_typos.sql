-- Query words with aliases and typos (issue #12): a query word that is a skill alias
-- matches any spelling of its group ("k8s" OR "kubernetes" OR "kube"), an OR the API
-- builds per word with this aggregate before ANDing the words (api/search/lexical.py).
-- A word matching nothing is corrected to the nearest skill_vocabulary term by edit
-- distance (fuzzystrmatch's levenshtein_less_equal: "pyhton" -> "python" is 2 edits,
-- while its trigram similarity is only 0.27). fuzzystrmatch ships with PostgreSQL
-- (contrib) and is a trusted extension since 13.
CREATE EXTENSION IF NOT EXISTS fuzzystrmatch;

CREATE AGGREGATE jobstream_tsquery_or(tsquery) (SFUNC = tsquery_or, STYPE = tsquery);
