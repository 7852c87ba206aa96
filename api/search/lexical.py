"""The SQL of lexical and hybrid search and of the honest match count (issue #12).

Kept apart from :mod:`api.search.sql` (vector-only statements) but built from the same
canonical filter (:func:`api.search.sql.where`), so both retrievers see the same postings.

**The lexical query.** Each query word goes through ``jobstream_search_text`` (migration
0004: C++/C#/F#/.NET spelled out, as in the documents) and ``plainto_tsquery('english')``,
which accepts any text; words that are stop words or that match no live posting at all
(Korean words against English postings, typos, unknown names) are dropped, the rest are
ANDed (``jobstream_tsquery_and``). So "CISSP 자격증 정보보안 관리자" looks for CISSP,
"Kafka Streams" for both words, and a query none of whose words occur matches nothing
lexically (the semantic side still answers). Each word's existence is one GIN probe.
The resulting tsquery is the ``lexical_query`` CTE; highlighting can reuse it
(:data:`MATCHED_QUERY`). Its ``coverage`` (words kept / words asked) scales the lexical
side of a fusion, so "k8s engineer" with an unknown "k8s" does not rank every engineer
as a keyword match (judged set, MiniLM: en_variants nDCG@10 0.744 -> 0.811, other sets
within 0.003).

**Scores.** Keyword: ``ts_rank_cd`` with normalisation 1|32 (divided by 1 + log of the
document length, then mapped into [0, 1)). Hybrid: reciprocal rank fusion of a window of
each ranking (:mod:`api.search.ranking`). Pages are keyset-paginated on (-score, id); the
cursor carries -score as its sort key.

**Counts.** A posting matches a query when it matches lexically or when its cosine
similarity is at least the floor (``JOBSTREAM_SEMANTIC_MATCH_FLOOR``). The semantic side
is counted among the ``count_window`` nearest postings only, so counting costs one window
of the ANN index, not a scan of the table: past that, the count is a lower bound.
"""

from __future__ import annotations

from typing import Any

from api.search.cursor import Keyset
from api.search.ranking import RRF_K
from api.search.sql import QUERY_VECTOR, Params, facet_counts, of_model, where
from schemas.search.filters import PostingFilter
from schemas.search.lexical import SPELLING_QUERY

LEXICAL_QUERY = "(SELECT q FROM lexical_query)"
# What the highlighter may select beside the hits: the tsquery the page matched.
MATCHED_QUERY = f"{LEXICAL_QUERY}::text AS matched_query"
RANK = f"ts_rank_cd(search_tsv, {LEXICAL_QUERY}, 33)::float8"
DISTANCE = f"embedding <=> {QUERY_VECTOR}"


def lexical_query_cte(words: str) -> str:
    """``lexical_query(q)``: the AND of the words (a ``text[]`` parameter) that match some
    live posting; NULL when none does, and ``search_tsv @@ NULL`` matches nothing. An
    element is a word's alias group (:mod:`api.search.words`), its spellings ORed."""
    return (
        "lexical_query AS MATERIALIZED (SELECT"
        " jobstream_tsquery_and(tq) FILTER (WHERE found) AS q,"
        " (count(*) FILTER (WHERE found))::float8 / greatest(count(*), 1) AS coverage"
        " FROM (SELECT tq, jobstream_occurs(tq) AS found"
        " FROM (SELECT (SELECT jobstream_tsquery_or(t) FROM (SELECT"
        f" {SPELLING_QUERY} AS t"
        " FROM unnest(string_to_array(w, E'\\n')) AS s) AS spellings WHERE numnode(t) > 0)"
        f" AS tq FROM unnest({words}) AS w) AS words WHERE numnode(tq) > 0) AS checked)"
    )


def _after_score(keyset: Keyset | None, params: Params) -> str:
    if keyset is None:
        return ""
    d = params.add(keyset.distance, "::float8")
    i = params.add(keyset.posting_id, "::text")
    return f" AND (-score, id) > ({d}, {i})"


def keyword_search(
    f: PostingFilter, words: list[str], keyset: Keyset | None, limit: int
) -> tuple[str, list[Any]]:
    """Every lexical match by (ts_rank_cd desc, id), strictly after ``keyset``."""
    params = Params(words)
    conds = where(f, params)
    after = _after_score(keyset, params)
    n = params.add(limit, "::int")
    sql = (
        f"WITH {lexical_query_cte('$1::text[]')}"
        f" SELECT id, score, {MATCHED_QUERY} FROM (SELECT id, {RANK} AS score FROM postings"
        f" WHERE {conds} AND search_tsv @@ {LEXICAL_QUERY} OFFSET 0) AS ranked"
        f" WHERE true{after} ORDER BY score DESC, id LIMIT {n}"
    )
    return sql, params.values


def _semantic_window(
    f: PostingFilter, params: Params, model: str | None, window: str, *, index: bool
) -> str:
    """The best ``window`` postings by distance, numbered 1.. (index order re-sorted, or
    exact behind an OFFSET 0 fence as in :func:`api.search.sql.exact_search`)."""
    conds = where(f, params) + of_model(model, params)
    if index:
        nearest = (
            f"SELECT id, {DISTANCE} AS distance FROM postings WHERE {conds}"
            f" ORDER BY {DISTANCE} LIMIT {window}"
        )
    else:
        nearest = (
            f"SELECT id, distance FROM (SELECT id, {DISTANCE} AS distance FROM postings"
            f" WHERE {conds} OFFSET 0) AS scored ORDER BY distance, id LIMIT {window}"
        )
    return (
        "semantic AS MATERIALIZED (SELECT id, row_number() OVER (ORDER BY distance + 0, id)"
        f" AS r FROM ({nearest}) AS nearest)"
    )


def hybrid_search(
    f: PostingFilter,
    vector_text: str,
    words: list[str],
    keyset: Keyset | None,
    limit: int,
    *,
    window: int,
    semantic_weight: float,
    model: str | None,
    index: bool,
) -> tuple[str, list[Any]]:
    """Reciprocal rank fusion of the semantic and the lexical window, by (score desc, id),
    strictly after ``keyset``; one statement, one round trip."""
    params = Params(vector_text, words)
    w = params.add(window, "::int")
    semantic = _semantic_window(f, params, model, w, index=index)
    lexical_conds = where(f, params)
    weight = params.add(float(semantic_weight), "::float8")
    after = _after_score(keyset, params)
    n = params.add(limit, "::int")
    sql = (
        f"WITH {lexical_query_cte('$2::text[]')}, {semantic},"
        " lexical AS MATERIALIZED (SELECT id, row_number() OVER (ORDER BY rank DESC, id) AS r"
        f" FROM (SELECT id, {RANK} AS rank FROM postings WHERE {lexical_conds}"
        f" AND search_tsv @@ {LEXICAL_QUERY} ORDER BY rank DESC, id LIMIT {w}) AS best),"
        f" fused AS (SELECT id, COALESCE({weight} / ({RRF_K} + s.r), 0)"
        f" + COALESCE((1 - {weight}) * (SELECT coverage FROM lexical_query)"
        f" / ({RRF_K} + l.r), 0) AS score"
        " FROM semantic AS s FULL JOIN lexical AS l USING (id))"
        f" SELECT id, score, {MATCHED_QUERY} FROM fused"
        f" WHERE score > 0{after} ORDER BY score DESC, id LIMIT {n}"
    )
    return sql, params.values


def _matched(
    f: PostingFilter,
    params: Params,
    *,
    lexical: bool,
    semantic: bool,
    model: str | None,
    count_window: int,
    floor: float,
    index: bool,
) -> str:
    """``matched(id)``: the postings matching the query under the filter (see module)."""
    parts = []
    if lexical:
        conds = where(f, params)
        parts.append(f"SELECT id FROM postings WHERE {conds} AND search_tsv @@ {LEXICAL_QUERY}")
    if semantic:
        conds = where(f, params) + of_model(model, params)
        inner = f"SELECT id, {DISTANCE} AS distance FROM postings WHERE {conds}"
        if not index:
            inner = f"SELECT id, distance FROM ({inner} OFFSET 0) AS scored"
            order = "distance"
        else:
            order = DISTANCE
        max_distance = params.add(1.0 - floor, "::float8")
        window = params.add(count_window, "::int")
        parts.append(
            f"SELECT id FROM ({inner} ORDER BY {order} LIMIT {window}) AS nearest"
            f" WHERE distance <= {max_distance}"
        )
    return "matched AS (" + " UNION ".join(parts) + ")"


def _matched_statement(
    f: PostingFilter,
    vector_text: str | None,
    words: list[str],
    *,
    semantic: bool,
    **options: Any,
) -> tuple[Params, str]:
    """Parameters and ``WITH ... matched``; the vector is $1 when the semantic side counts
    (QUERY_VECTOR names $1), else the words are."""
    params = Params(vector_text, words) if semantic else Params(words)
    words_param = "$2::text[]" if semantic else "$1::text[]"
    matched = _matched(f, params, semantic=semantic, **options)
    return params, f"WITH {lexical_query_cte(words_param)}, {matched}"


def matched_count(
    f: PostingFilter, vector_text: str | None, words: list[str], **options: Any
) -> tuple[str, list[Any]]:
    """How many postings match the query under the filter (options: :func:`_matched`)."""
    params, with_matched = _matched_statement(f, vector_text, words, **options)
    return f"{with_matched} SELECT count(*) FROM matched", params.values


def matched_facets(
    f: PostingFilter, vector_text: str | None, words: list[str], **options: Any
) -> tuple[str, list[Any]]:
    """Counts per facet value over the postings matching the query."""
    params, with_matched = _matched_statement(f, vector_text, words, **options)
    counts = facet_counts("postings JOIN matched USING (id)", params)
    return f"{with_matched} {counts}", params.values
