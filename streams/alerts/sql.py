"""When a posting matches a saved search, in SQL: the one definition the matcher and the
backfill share (so a backfilled alert and a live one mean the same).

Both expressions are over ``p`` (a ``postings`` row) and ``s`` (a ``saved_searches`` row).
The filter means what :class:`schemas.search.filters.PostingFilter` means in search
(api/search/sql.py ``where``): NULL or empty columns restrict nothing, a NULL posting
value never passes a restriction on it. Skills compare canonically (the alias table):
``skills`` names an expression of the posting's skills, canonical, as ``text[]``.

The query: no query (``s.query = ''``) matches every posting the filter accepts; KEYWORD
matches lexically (every unit of the query in the posting's ``search_tsv``, see
``saved_searches.lexical_query``), SEMANTIC by meaning (cosine similarity to the saved
query's vector >= ``min_score``, vectors of the same model only), HYBRID either way.
"""

from __future__ import annotations

SAME_MODEL = "p.embedding_model IS NOT DISTINCT FROM s.embedding_model"
COSINE = "(1 - (p.embedding <=> s.embedding))"


def filter_condition(skills: str) -> str:
    """``s``'s filter accepts the live posting ``p`` (``skills``: its canonical skills)."""
    return (
        "NOT p.deleted"
        " AND (s.experience_min_years IS NULL OR p.experience_max_years >= s.experience_min_years)"
        " AND (s.experience_max_years IS NULL OR p.experience_min_years <= s.experience_max_years)"
        " AND (s.english_levels = '{}' OR p.english_level = ANY(s.english_levels))"
        " AND (s.remote_modes = '{}' OR p.remote_mode = ANY(s.remote_modes))"
        " AND (s.employment_types = '{}' OR p.employment_type = ANY(s.employment_types))"
        " AND (s.country_code IS NULL OR p.country_code = s.country_code)"
        " AND (s.city IS NULL"
        " OR lower(p.city COLLATE pg_c_utf8) = lower(s.city COLLATE pg_c_utf8))"
        f" AND (s.skills_all = '{{}}' OR s.skills_all <@ {skills})"
        f" AND (s.skills_any = '{{}}' OR s.skills_any && {skills})"
        " AND (s.salary_min IS NULL OR p.salary_max >= s.salary_min)"
        " AND (s.currency IS NULL OR p.salary_currency = s.currency)"
        " AND (s.posted_after IS NULL OR p.posted_at > s.posted_after)"
    )


# (``s.lexemes`` is implied; testing it here would convert the tsvector once per pair)
LEXICAL = "(s.lexical_query IS NOT NULL AND p.search_tsv @@ s.lexical_query)"
SEMANTIC = f"(s.embedding IS NOT NULL AND {SAME_MODEL} AND {COSINE} >= s.min_score)"

QUERY_CONDITION = (
    "(s.query = ''"
    f" OR (s.mode = 'KEYWORD' AND {LEXICAL})"
    f" OR (s.mode = 'SEMANTIC' AND {SEMANTIC})"
    f" OR (s.mode = 'HYBRID' AND ({LEXICAL} OR {SEMANTIC})))"
)


def match_condition(skills: str) -> str:
    """``p`` is a live posting that matches the live saved search ``s``."""
    return f"NOT s.deleted AND {filter_condition(skills)} AND {QUERY_CONDITION}"


# How well ``p`` matches ``s`` (the alert's score; backfill ranks by it): the cosine
# similarity when the semantic side applies, else ts_rank_cd as search ranks KEYWORD, and
# 1 for a saved search without a query.
SCORE = (
    "(CASE WHEN s.query = '' THEN 1.0::float8"
    f" WHEN s.mode <> 'KEYWORD' AND s.embedding IS NOT NULL AND {SAME_MODEL}"
    f" THEN {COSINE}::float8"
    " WHEN s.lexical_query IS NOT NULL THEN ts_rank_cd(p.search_tsv, s.lexical_query, 33)::float8"
    " ELSE 0.0::float8 END)"
)


def canonical_skills(column: str, aliases: str, canonicals: str) -> str:
    """The skills in ``column`` with each alias replaced by its canonical name; ``aliases``
    and ``canonicals`` are two parallel ``text[]`` parameters (the alias table)."""
    return (
        f"ARRAY(SELECT coalesce(m.c, k) FROM unnest({column}) AS k"
        f" LEFT JOIN unnest({aliases}, {canonicals}) AS m(a, c) ON m.a = k)"
    )
