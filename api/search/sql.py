"""The repository's SQL, built from a canonical :class:`PostingFilter`.

Every statement takes the query vector as *text* (``$1::text::vector``) inside a scalar
subquery. Text because the pool may or may not have pgvector's binary codec registered
(the parameter is typed ``text``, so asyncpg's built-in codec always applies; measured:
formatting + parsing 384 floats costs ~0.1 ms of a multi-ms search). The subquery makes
it an InitPlan, evaluated once per execution: a bare ``$1::text::vector`` in a *generic*
plan (asyncpg prepares statements; PostgreSQL switches to a generic plan after five
executions) would be re-parsed for every row of an exact scan.

Two search shapes, chosen by the repository:

- :func:`index_search`: ``ORDER BY embedding <=> q LIMIT n`` that the ANN index can serve,
  inside a MATERIALIZED CTE whose output is re-sorted by (distance + 0, id) -- a plain
  ``ORDER BY distance`` would be planned as already sorted (PostgreSQL 17+ propagates a
  CTE's sort order), which relaxed-order output is not. The caller sets
  ``ivfflat.probes``/``iterative_scan = relaxed_order`` with ``SET LOCAL``; those are read
  when the scan starts, so they apply to cached plans too. Relaxed order may yield a hit
  slightly out of order, hence the outer sort, and the CTE over-fetches so ties at the
  page boundary are resolved by id instead of by scan order.
- :func:`exact_search`: the distance is computed in a subquery behind ``OFFSET 0`` (an
  optimisation fence), so no plan -- custom, generic or cached -- can use the ANN index
  for the ordering; the result is the exact top-n. This is structural rather than
  ``SET enable_indexscan = off``, which a cached generic plan would ignore.

Both continue strictly after the cursor's keyset: ``(distance, id) > ($d, $id)``.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from api.search import skills
from api.search.cursor import Keyset
from api.search.models import PostingView
from schemas.db.postings import select_list
from schemas.search import synonyms
from schemas.search.filters import PostingFilter

QUERY_VECTOR = "(SELECT $1::text::vector)"
DISTANCE = f"embedding <=> {QUERY_VECTOR}"

# What a client may see: the columns named by PostingView's fields, in table order.
VIEW_COLUMNS = select_list(field.name for field in fields(PostingView))


class Params:
    """Positional parameters collected while building a statement ($1 is the vector)."""

    def __init__(self, *initial: Any) -> None:
        self.values: list[Any] = list(initial)

    def add(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


def where(f: PostingFilter, params: Params) -> str:
    """The WHERE conditions of a canonical filter, live postings only."""
    conds = ["NOT deleted"]
    if f.experience_min_years is not None:
        # ranges overlap: posting.max >= asked.min and posting.min <= asked.max
        conds.append(f"experience_max_years >= {params.add(f.experience_min_years, '::int')}")
    if f.experience_max_years is not None:
        conds.append(f"experience_min_years <= {params.add(f.experience_max_years, '::int')}")
    for column, values in (
        ("english_level", f.english_levels),
        ("remote_mode", f.remote_modes),
        ("employment_type", f.employment_types),
    ):
        if values:
            conds.append(f"{column} = ANY({params.add(list(values), '::text[]')})")
    if f.country_code is not None:
        conds.append(f"country_code = {params.add(f.country_code, '::text')}")
    if f.city is not None:
        # pg_c_utf8 (PostgreSQL 17+): Unicode case mapping whatever the database locale,
        # so "MÜNCHEN" matches "München" even in a C-locale cluster.
        conds.append(
            "lower(city COLLATE pg_c_utf8) = "
            f"lower({params.add(f.city, '::text')} COLLATE pg_c_utf8)"
        )
    conds += skills.conditions(f.skills_all, f.skills_any, synonyms.active(), params.add)
    if f.salary_min is not None:
        conds.append(f"salary_max >= {params.add(f.salary_min, '::bigint')}")
    if f.currency is not None:
        conds.append(f"salary_currency = {params.add(f.currency, '::text')}")
    if f.posted_after is not None:
        conds.append(f"posted_at > {params.add(f.posted_after, '::timestamptz')}")
    return " AND ".join(conds)


def _after(keyset: Keyset | None, params: Params, distance: str) -> str:
    if keyset is None:
        return ""
    d = params.add(keyset.distance, "::float8")
    i = params.add(keyset.posting_id, "::text")
    return f" AND ({distance}, id) > ({d}, {i})"


def _excluding(exclude: str | None, params: Params) -> str:
    return "" if exclude is None else f" AND id <> {params.add(exclude, '::text')}"


def of_model(model: str | None, params: Params) -> str:
    """Only postings embedded by ``model`` (vectors of two models never compare)."""
    return "" if model is None else f" AND embedding_model = {params.add(model, '::text')}"


def index_search(
    f: PostingFilter,
    vector_text: str,
    keyset: Keyset | None,
    limit: int,
    candidates: int,
    *,
    exclude: str | None = None,
    model: str | None = None,
) -> tuple[str, list[Any]]:
    """Top ``limit`` by (distance, id) from ``candidates`` fetched in index order."""
    params = Params(vector_text)
    conds = where(f, params) + _excluding(exclude, params) + of_model(model, params)
    conds += _after(keyset, params, DISTANCE)
    n_candidates = params.add(candidates, "::int")
    n = params.add(limit, "::int")
    sql = (
        "WITH candidates AS MATERIALIZED ("
        f" SELECT id, {DISTANCE} AS distance FROM postings WHERE {conds}"
        f" ORDER BY {DISTANCE} LIMIT {n_candidates})"
        # "+ 0": PostgreSQL 17+ propagates the CTE's ORDER BY as a sort order of its
        # output and would plan an Incremental Sort that trusts it -- wrong, because
        # relaxed_order output is not sorted. A new expression forces a full sort.
        f" SELECT id, distance FROM candidates ORDER BY distance + 0, id LIMIT {n}"
    )
    return sql, params.values


def exact_search(
    f: PostingFilter,
    vector_text: str,
    keyset: Keyset | None,
    limit: int,
    *,
    exclude: str | None = None,
    model: str | None = None,
) -> tuple[str, list[Any]]:
    """Exact top ``limit`` by (distance, id); the OFFSET 0 fence keeps the ANN index out."""
    params = Params(vector_text)
    conds = where(f, params) + _excluding(exclude, params) + of_model(model, params)
    after = _after(keyset, params, "distance")
    n = params.add(limit, "::int")
    sql = (
        f"SELECT id, distance FROM (SELECT id, {DISTANCE} AS distance FROM postings"
        f" WHERE {conds} OFFSET 0) AS scored"
        f" WHERE true{after} ORDER BY distance, id LIMIT {n}"
    )
    return sql, params.values


def similar_many(*, index: bool) -> str:
    """The nearest live postings to each of many postings, in one statement: ``$1`` the
    source ids, ``$2`` how many per source, ``$3`` (index only) candidates per source.

    Per source, what :func:`index_search` / :func:`exact_search` do for one query vector:
    live postings of the source's embedding model (vectors of two models never compare),
    the source excluded, ordered by (distance, id). The source's embedding is an outer
    reference of the LATERAL subquery, so each source is its own ANN scan (``index``) or
    exact scan behind the OFFSET 0 fence. Unknown and deleted sources yield no rows.
    """
    distance = "p.embedding <=> src.embedding"
    live = "NOT p.deleted AND p.id <> src.id AND p.embedding_model = src.embedding_model"
    if index:
        nearest = (
            f"SELECT id, distance FROM (SELECT p.id, {distance} AS distance FROM postings p"
            f" WHERE {live} ORDER BY {distance} LIMIT $3::int) AS candidates"
            # "+ 0": as in index_search, relaxed-order output is not sorted.
            " ORDER BY distance + 0, id LIMIT $2::int"
        )
    else:
        nearest = (
            f"SELECT id, distance FROM (SELECT p.id, {distance} AS distance FROM postings p"
            f" WHERE {live} OFFSET 0) AS scored ORDER BY distance, id LIMIT $2::int"
        )
    return (
        "SELECT src.id AS source, n.id, n.distance"
        " FROM unnest($1::text[]) WITH ORDINALITY AS s(id, ord)"
        " JOIN postings src ON src.id = s.id AND NOT src.deleted"
        f" CROSS JOIN LATERAL ({nearest}) AS n"
        " ORDER BY s.ord, n.distance, n.id"
    )


def count(f: PostingFilter) -> tuple[str, list[Any]]:
    params = Params()
    return f"SELECT count(*) FROM postings WHERE {where(f, params)}", params.values


def latest(
    f: PostingFilter, before: tuple[datetime, str] | None, limit: int
) -> tuple[str, list[Any]]:
    """Newest first on (posted_at, id), strictly before the keyset ``before``."""
    params = Params()
    conds = where(f, params)
    if before is not None:
        at = params.add(before[0], "::timestamptz")
        pid = params.add(before[1], "::text")
        conds += f" AND (posted_at, id) < ({at}, {pid})"
    n = params.add(limit, "::int")
    sql = (
        f"SELECT id, posted_at FROM postings WHERE {conds}"
        f" ORDER BY posted_at DESC, id DESC LIMIT {n}"
    )
    return sql, params.values


def facets(f: PostingFilter) -> tuple[str, list[Any]]:
    """One pass over the filtered rows, one grouping set per facet, and the skill facet."""
    params = Params()
    return facet_counts(f"postings WHERE {where(f, params)}", params), params.values


# Skills in the skill facet: the most frequent, as a filter's checkboxes can show them.
SKILL_FACET_SIZE = 20


def facet_counts(rows: str, params: Params) -> str:
    """Counts per facet value over ``SELECT ... FROM <rows>``: one grouping set per facet,
    then the skill facet (:func:`skill_counts`) as rows of facet ``skills``."""
    return f"{_grouped_counts(rows)} UNION ALL ({skill_counts(rows, params)})"


def skill_counts(rows: str, params: Params) -> str:
    """The :data:`SKILL_FACET_SIZE` most frequent canonical skills over ``<rows>``, most
    first: postings per stored spelling, then the spellings of one canonical summed through
    the alias table (its pairs are parameters, so the table may change without a statement
    cache to purge). Mapping after counting joins a few hundred spellings with the table
    instead of every posting's skills (20,000 postings: 645 ms -> see api/search/README);
    a posting listing two spellings of one skill ("k8s" and "kubernetes") counts twice."""
    table = synonyms.active()
    aliases = sorted(table.entries)
    alias = params.add(aliases, "::text[]")
    canonical = params.add([table.entries[a].canonical for a in aliases], "::text[]")
    size = params.add(SKILL_FACET_SIZE, "::int")
    return (
        "SELECT 'skills' AS facet, COALESCE(m.canonical, spelt.skill) AS value,"
        " sum(spelt.n)::bigint AS n FROM (SELECT s AS skill, count(*) AS n"
        f" FROM (SELECT skills FROM {rows}) AS r, unnest(r.skills) AS s GROUP BY s) AS spelt"
        f" LEFT JOIN unnest({alias}, {canonical}) AS m(alias, canonical)"
        " ON m.alias = spelt.skill"
        f" GROUP BY 2 ORDER BY n DESC, value LIMIT {size}"
    )


def _grouped_counts(rows: str) -> str:
    """Counts per facet value of the enum and experience facets, one grouping set each."""
    return (
        "SELECT CASE WHEN GROUPING(english_level) = 0 THEN 'english_level'"
        " WHEN GROUPING(remote_mode) = 0 THEN 'remote_mode'"
        " WHEN GROUPING(employment_type) = 0 THEN 'employment_type'"
        " ELSE 'experience' END AS facet,"
        " COALESCE(english_level, remote_mode, employment_type, bucket) AS value,"
        " count(*) AS n"
        " FROM (SELECT english_level, remote_mode, employment_type,"
        " CASE WHEN experience_min_years <= 1 THEN '0-1'"
        " WHEN experience_min_years <= 4 THEN '2-4'"
        " WHEN experience_min_years <= 9 THEN '5-9' ELSE '10+' END AS bucket"
        f" FROM {rows}) AS filtered"
        " GROUP BY GROUPING SETS ((english_level), (remote_mode), (employment_type), (bucket))"
    )


GET_MANY = f"SELECT {VIEW_COLUMNS} FROM postings WHERE id = ANY($1::text[]) AND NOT deleted"

# The newest *valid* cosine ANN index named in vector_index (streams/index.py writes it;
# an interrupted CONCURRENTLY build leaves an invalid index that must not be trusted).
CURRENT_INDEX = """
SELECT v.name, v.method, v.lists, v.probes
FROM vector_index v
JOIN pg_class c ON c.relname = v.name
JOIN pg_index i ON i.indexrelid = c.oid AND i.indisvalid
WHERE i.indrelid = 'postings'::regclass AND v.opclass = 'vector_cosine_ops'
ORDER BY v.built_at DESC
LIMIT 1
"""
