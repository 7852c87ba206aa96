-- Lexical search (issue #12): a weighted tsvector that PostgreSQL keeps itself, in the
-- same statement (and so the same transaction) as the sink's upsert; no sink code reads
-- or writes it. Title and skills weigh A, company B, description C. The 'english'
-- configuration stems ("engineers" finds "engineer"); tool names survive its parser
-- ("pgBackRest", "Node.js", "CI/CD", "Docs-as-code" as a whole and in parts) except
-- those it would cut to a letter, which jobstream_search_text spells out first:
-- C++ -> cplusplus, C# -> csharp, F# -> fsharp, .NET -> dotnet. Queries go through the
-- same function (api/search/sql.py), so both sides agree.
CREATE FUNCTION jobstream_search_text(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN regexp_replace(
    regexp_replace(
        regexp_replace(
            regexp_replace(lower(t), '\mc\+\+', 'cplusplus', 'g'),
            '\mc#', 'csharp', 'g'),
        '\mf#', 'fsharp', 'g'),
    '(^|[^[:alnum:]_])\.net\M', '\1dotnet', 'g');

-- array_to_string is only STABLE (element output functions may depend on settings);
-- for text[] it is not, and a generated column needs IMMUTABLE.
CREATE FUNCTION jobstream_skills_text(skills text[]) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN array_to_string(skills, ' , ');

-- AND of the query words that match something (api/search/sql.py drops the others).
CREATE AGGREGATE jobstream_tsquery_and(tsquery) (SFUNC = tsquery_and, STYPE = tsquery);

ALTER TABLE postings ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, jobstream_search_text(coalesce(title, ''))), 'A')
    || setweight(to_tsvector('english'::regconfig,
        jobstream_search_text(jobstream_skills_text(skills))), 'A')
    || setweight(to_tsvector('english'::regconfig, jobstream_search_text(coalesce(company, ''))), 'B')
    || setweight(to_tsvector('english'::regconfig,
        jobstream_search_text(coalesce(description, ''))), 'C')
) STORED;

CREATE INDEX IF NOT EXISTS postings_search_tsv ON postings USING gin (search_tsv) WHERE NOT deleted;
