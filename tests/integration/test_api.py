"""The API on the real stack: GraphQL over Litestar's AsyncTestClient against create_app.

A fixed ~40-posting corpus goes in through the real path (publishPosting mutations ->
Kafka -> a sink worker subprocess -> rows), embedded by real MiniLM, once per module.
Then: ranking of known queries, every filter's GraphQL mapping, cursor pagination,
similar, facets, cache stats, limits, error codes, admin, health and metrics.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from schemas.settings import Settings
from tests.support.api import (
    ADMIN_TOKEN,
    POSTING,
    SEARCH_IDS,
    Api,
    app_settings,
    running_api,
    wait_until,
)
from tests.support.corpus import BASE_DATE, BY_ID, CORPUS, PYTHON_BACKEND, matches
from tests.support.provision import free_port
from tests.support.sink import (
    PYTHON,
    ROOT,
    Topics,
    WorkerProcess,
)

pytestmark = pytest.mark.integration


async def all_ids(api: Api, query: str, filter: dict[str, Any] | None = None) -> list[str]:
    return await api.search_ids(query, filter, first=100)


# --- ranking ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "top"),
    [
        ("python backend developer", PYTHON_BACKEND | {"py-4"}, 3),
        ("registered nurse in a hospital", {"med-1", "med-2"}, 2),
        ("react frontend web developer", {"fe-1", "fe-3"}, 2),
        ("kubernetes devops engineer", {"ops-1", "ops-2", "ops-4"}, 2),
        ("machine learning deep learning", {"ds-1", "ds-2", "ds-4"}, 2),
        ("truck driver", {"log-1"}, 1),
    ],
)
async def test_known_queries_rank_the_expected_postings_first(
    api: Api, query: str, expected: set[str], top: int
) -> None:
    ids = await all_ids(api, query)
    assert len(ids) == len(CORPUS)
    assert set(ids[:top]) <= expected, (query, ids[:6])


async def test_scores_are_descending_and_posting_fields_round_trip(api: Api) -> None:
    data = await api.gql(
        """query { search(query: "python backend developer", first: 5) {
            totalCount
            edges { score node { id title company city countryCode remoteMode employmentType
                experienceMinYears experienceMaxYears englishLevel skills
                salary { min max currency } description postedAt embeddingModel version } }
        } }"""
    )
    edges = data["search"]["edges"]
    scores = [e["score"] for e in edges]
    assert scores == sorted(scores, reverse=True)
    # the query's matches (its words, or its meaning above the floor), not the table
    assert 0 < data["search"]["totalCount"] < len(CORPUS)
    node = next(e["node"] for e in edges if e["node"]["id"] == "py-1")
    doc = BY_ID["py-1"]
    assert node["title"] == doc.title
    assert node["city"] == "Berlin"
    assert node["countryCode"] == "DE"
    assert node["remoteMode"] == "HYBRID"
    assert node["experienceMinYears"] == 5
    assert node["englishLevel"] == "FLUENT"
    assert node["skills"] == list(doc.skills)
    assert node["salary"] == {"min": 80_000, "max": 100_000, "currency": "EUR"}
    assert node["embeddingModel"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert node["postedAt"].startswith("2026-10-02")


# --- filters: the GraphQL mapping of each --------------------------------------------


FILTERS: list[dict[str, Any]] = [
    {"experienceMinYears": 6},
    {"experienceMaxYears": 1},
    {"experienceMinYears": 3, "experienceMaxYears": 4},
    {"englishLevels": ["NATIVE", "FLUENT"]},
    {"remoteModes": ["REMOTE"]},
    {"employmentTypes": ["PART_TIME", "CONTRACT"]},
    {"countryCode": "PL"},
    {"countryCode": "de", "city": "munich"},
    {"skillsAll": ["python", "postgresql"]},
    {"skillsAny": ["Kubernetes", "swift"]},
    {"salaryMin": 100_000},
    {"currency": "PLN"},
    {"salaryMin": 50_000, "currency": "EUR"},
    {"postedAfter": (BASE_DATE + timedelta(days=35)).isoformat()},
    {"remoteModes": ["ONSITE"], "englishLevels": ["NONE", "BASIC"], "countryCode": "DE"},
]


@pytest.mark.parametrize("filter", FILTERS, ids=lambda f: ",".join(sorted(f)))
async def test_every_filter_maps_to_the_documented_semantics(
    api: Api, filter: dict[str, Any]
) -> None:
    expected = {doc.id for doc in CORPUS if matches(doc, filter)}
    assert expected, "a filter test needs matches"
    assert len(expected) < len(CORPUS), "a filter test needs non-matches"
    ids = await api.search_ids("job", filter, first=100, mode="SEMANTIC")  # ranks them all
    assert set(ids) == expected
    # counts go through the filter too: the keyword matches of a word, filtered
    everywhere = await api.search_ids("engineer", None, first=100, mode="KEYWORD")
    filtered = await api.search_ids("engineer", filter, first=100, mode="KEYWORD")
    assert filtered == [pid for pid in everywhere if pid in expected]
    data = await api.gql(
        'query($f: PostingFilter) { search(query: "engineer", filter: $f, first: 1,'
        " mode: KEYWORD) { totalCount } }",
        {"f": filter},
    )
    assert data["search"]["totalCount"] == len(filtered)


async def test_bad_filters_are_bad_user_input_naming_the_field(api: Api) -> None:
    cases = [
        ({"countryCode": "XX"}, "filter.countryCode"),
        ({"currency": "EURO"}, "filter.currency"),
        ({"experienceMinYears": 5, "experienceMaxYears": 2}, "filter.experienceMinYears"),
        ({"experienceMinYears": 99}, "filter.experienceMinYears"),
    ]
    for filter, field in cases:
        errors = await api.errors(SEARCH_IDS, {"query": "python", "filter": filter})
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
        assert errors[0]["extensions"]["field"] == field, errors


# --- pagination ----------------------------------------------------------------------


async def test_cursor_pagination_walks_the_whole_ranking_without_gaps(api: Api) -> None:
    full = await all_ids(api, "software engineer")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = await api.gql(SEARCH_IDS, {"query": "software engineer", "first": 7, "after": after})
        page = data["search"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == full
    assert pages == -(-len(CORPUS) // 7)


async def test_every_edge_cursor_resumes_right_after_its_edge(api: Api) -> None:
    full = await all_ids(api, "data analytics")
    data = await api.gql(SEARCH_IDS, {"query": "data analytics", "first": 6})
    for index, edge in enumerate(data["search"]["edges"]):
        nxt = await api.gql(
            SEARCH_IDS, {"query": "data analytics", "first": 3, "after": edge["cursor"]}
        )
        ids = [e["node"]["id"] for e in nxt["search"]["edges"]]
        assert ids == full[index + 1 : index + 4]


async def test_a_garbled_cursor_is_bad_user_input(api: Api) -> None:
    for cursor in ["not-a-cursor", "e1:%%%"]:
        errors = await api.errors(SEARCH_IDS, {"query": "python", "after": cursor})
        assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


# --- posting, similar, facets ----------------------------------------------------------


async def test_posting_by_id_and_not_found(api: Api) -> None:
    data = await api.gql(POSTING, {"id": "med-1"})
    assert data["posting"] == {"id": "med-1", "version": 1, "title": "Registered Nurse"}
    status, doc = await api.raw(POSTING, {"id": "no-such-posting"})
    assert status == 200
    assert doc["data"] == {"posting": None}
    assert doc["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "no-such-posting" in doc["errors"][0]["message"]


async def test_similar_postings(api: Api) -> None:
    data = await api.gql(
        'query { posting(id: "med-1") { similar(first: 3) { score node { id } } } }'
    )
    similar = data["posting"]["similar"]
    ids = [s["node"]["id"] for s in similar]
    assert len(ids) == 3
    assert "med-1" not in ids
    assert ids[0] == "med-2"
    assert [s["score"] for s in similar] == sorted((s["score"] for s in similar), reverse=True)
    default = await api.gql('query { posting(id: "py-1") { similar { node { id } } } }')
    assert len(default["posting"]["similar"]) == 5
    assert default["posting"]["similar"][0]["node"]["id"] in PYTHON_BACKEND | {"py-4"}


async def test_facets_count_the_filtered_set(api: Api) -> None:
    filter = {"countryCode": "DE"}
    data = await api.gql(
        """query($f: PostingFilter) { facets(filter: $f) {
            englishLevel { value count } remoteMode { value count }
            employmentType { value count } experience { value count } } }""",
        {"f": filter},
    )
    docs = [doc for doc in CORPUS if matches(doc, filter)]
    facets = data["facets"]
    remote = {f["value"]: f["count"] for f in facets["remoteMode"]}
    assert remote == {m: sum(d.remote == m for d in docs) for m in ("ONSITE", "HYBRID", "REMOTE")}
    english = {f["value"]: f["count"] for f in facets["englishLevel"]}
    assert sum(english.values()) == len(docs)
    assert english["BASIC"] == sum(d.english == "BASIC" for d in docs)
    employment = {f["value"]: f["count"] for f in facets["employmentType"]}
    assert employment["FULL_TIME"] == sum(d.employment == "FULL_TIME" for d in docs)
    assert sum(f["count"] for f in facets["experience"]) == len(docs)
    no_query = await api.gql("query { facets { remoteMode { value count } } }")
    assert sum(f["count"] for f in no_query["facets"]["remoteMode"]) == len(CORPUS)


async def test_facets_of_a_query_count_its_matches(api: Api) -> None:
    data = await api.gql(
        """query { facets(query: "kubernetes engineer") { remoteMode { value count } }
            search(query: "kubernetes engineer", first: 1) { totalCount } }"""
    )
    total = data["search"]["totalCount"]
    assert 0 < total < len(CORPUS)
    assert sum(f["count"] for f in data["facets"]["remoteMode"]) == total


# --- cache ---------------------------------------------------------------------------

STATS = """query { cacheStats {
    hits misses hitRate generation redisHealthy levels { level hits misses hitRate } } }"""


def level(stats: dict[str, Any], name: str) -> dict[str, Any]:
    return next(lv for lv in stats["levels"] if lv["level"] == name)


async def test_repeat_queries_hit_l1_and_a_second_instance_hits_l2(
    api: Api, stack: Settings, topics: Topics
) -> None:
    query = {"query": "cache probe: senior python engineer", "first": 5}
    # Postings this instance loaded while the corpus' invalidations were arriving may be
    # in its L1 only (a fill older than an eviction never reaches L2): drop L1 (the admin
    # mutation) so this search loads them again, freshly, and fills L2.
    await api.gql(
        "mutation { cacheFlush { cleared } }", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    await api.gql(SEARCH_IDS, query)
    before = (await api.gql(STATS))["cacheStats"]
    await api.gql(SEARCH_IDS, query)
    after = (await api.gql(STATS))["cacheStats"]
    # the page and its 5 postings come from L1
    assert level(after, "l1")["hits"] >= level(before, "l1")["hits"] + 6
    assert after["redisHealthy"] is True
    assert 0 < after["hitRate"] <= 1

    async with running_api(app_settings(stack, topics)) as other:
        await other.gql(SEARCH_IDS, query)
        stats = (await other.gql(STATS))["cacheStats"]
        # a fresh process: L1 empty, but the embedding and the postings are in Redis
        assert level(stats, "l2")["hits"] >= 6, stats
        assert level(stats, "l1")["hits"] == 0


# --- limits and error codes -----------------------------------------------------------


async def test_first_and_query_length_limits_name_the_limit(api: Api, stack: Settings) -> None:
    errors = await api.errors(SEARCH_IDS, {"query": "python", "first": stack.max_page_size + 1})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    assert str(stack.max_page_size) in errors[0]["message"]
    assert "JOBSTREAM_MAX_PAGE_SIZE" in errors[0]["message"]
    errors = await api.errors(SEARCH_IDS, {"query": "python", "first": 0})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    errors = await api.errors(SEARCH_IDS, {"query": "x" * (stack.max_query_chars + 1)})
    assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "query"}
    assert "JOBSTREAM_MAX_QUERY_CHARS" in errors[0]["message"]
    assert str(stack.max_query_chars) in errors[0]["message"]
    errors = await api.errors(SEARCH_IDS, {"query": "   "})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_query_depth_limit(api: Api, stack: Settings) -> None:
    deep = "id"
    for _ in range(stack.max_query_depth):
        deep = f"similar {{ node {{ {deep} }} }}"
    errors = await api.errors(f'query Deep {{ posting(id: "py-1") {{ {deep} }} }}')
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"maximum operation depth of {stack.max_query_depth}" in errors[0]["message"]


async def test_request_body_limit_is_413_json(api: Api, stack: Settings) -> None:
    padding = "x" * (stack.max_request_bytes + 10)
    response = await api.client.post(
        "/graphql", json={"query": "{ cacheStats { hits } }", "variables": {"pad": padding}}
    )
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert str(stack.max_request_bytes) in error["message"]
    assert "JOBSTREAM_MAX_REQUEST_BYTES" in error["message"]


MALFORMED: list[tuple[str, Any]] = [
    ("syntax error", {"query": "{ search(query: "}),
    ("unknown field", {"query": '{ search(query: "x") { nope } }'}),
    ("unknown root field", {"query": "{ postings { id } }"}),
    (
        "wrong variable type",
        {"query": SEARCH_IDS, "variables": {"query": "x", "first": "ten"}},
    ),
    ("missing required variable", {"query": SEARCH_IDS, "variables": {}}),
    ("null for non-null", {"query": SEARCH_IDS, "variables": {"query": None}}),
    (
        "bad enum",
        {"query": SEARCH_IDS, "variables": {"query": "x", "filter": {"remoteModes": ["MOON"]}}},
    ),
    ("no query", {"variables": {}}),
    ("variables not an object", {"query": SEARCH_IDS, "variables": [1]}),
]


@pytest.mark.parametrize(("name", "body"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_graphql_gets_coded_errors_never_a_500(
    api: Api, name: str, body: Any
) -> None:
    response = await api.client.post("/graphql", json=body)
    assert response.status_code in (200, 400), response.text
    errors = response.json()["errors"]
    assert errors
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in errors)
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{not json", "application/json"), (b"query=1", "text/plain"), (b"", "application/json")],
)
async def test_non_json_bodies_are_400_with_codes(
    api: Api, content: bytes, content_type: str
) -> None:
    response = await api.client.post(
        "/graphql", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_unexpected_failures_are_internal_with_a_correlation_id(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = api.client.app
    service = app.state.resources.service

    async def broken(ids: Any) -> Any:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(service.repository, "get_many", broken)
    status, doc = await api.raw(POSTING, {"id": "never-cached-id"})
    assert status == 200
    error = doc["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    assert error["extensions"]["correlationId"] in error["message"]
    assert "hunter2" not in str(doc)
    assert "Traceback" not in str(doc)


# --- mutations: validation and admin ---------------------------------------------------


async def test_publish_validation_errors_come_back_per_field(api: Api) -> None:
    doc = BY_ID["py-1"]
    cases = [
        (doc.input(countryCode="ZZ"), "countryCode", "INVALID_FIELD"),
        (doc.input(id="bad id!"), "id", "INVALID_ID"),
        (doc.input(version=0), "version", "INVALID_VERSION"),
        (doc.input(title="   "), "title", "MISSING_FIELD"),
        (
            doc.input(experienceMinYears=9, experienceMaxYears=3),
            "experienceMinYears",
            "INVALID_FIELD",
        ),
        (doc.input(salary={"min": 5, "max": 1, "currency": "EUR"}), "salary.min", "INVALID_FIELD"),
        (doc.input(postedAt="2099-01-01T00:00:00+00:00"), "postedAt", "INVALID_FIELD"),
        (doc.input(embedding=[0.1] * 10, embeddingModel="m"), "embedding", "INVALID_EMBEDDING"),
        (doc.input(embedding=[0.1] * 384), "embeddingModel", "MISSING_FIELD"),
    ]
    for posting, field, code in cases:
        result = await api.publish(posting)
        assert result["accepted"] is None, (field, result)
        assert [(e["field"], e["code"]) for e in result["errors"]] == [(field, code)], result
        assert result["errors"][0]["message"]


async def test_admin_mutation_needs_the_token(api: Api, stack: Settings, topics: Topics) -> None:
    flush = "mutation { cacheFlush { cleared } }"
    for headers in [{}, {"authorization": "Bearer wrong"}, {"authorization": ADMIN_TOKEN}]:
        errors = await api.errors(flush, headers=headers)
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    data = await api.gql(flush, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert data["cacheFlush"]["cleared"] >= 0
    stats = (await api.gql(STATS))["cacheStats"]
    assert stats["generation"] >= 0

    async with running_api(app_settings(stack, topics, admin_token=None)) as no_admin:
        errors = await no_admin.errors(flush, headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "JOBSTREAM_ADMIN_TOKEN" in errors[0]["message"]


# --- health and metrics ---------------------------------------------------------------


async def test_health_reports_each_dependency(api: Api) -> None:
    response = await api.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["postgres"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    assert "kafka_consumer" in body["checks"]
    assert body["status"] in ("ok", "degraded")


async def test_health_is_503_without_postgres_and_degraded_without_redis(
    stack: Settings, topics: Topics
) -> None:
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/jobstream"
    async with running_api(app_settings(stack, topics, database_url=dead)) as api:
        response = await api.client.get("/health")
        assert response.status_code == 503
        assert response.json()["checks"]["postgres"]["status"] == "down"
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    async with running_api(app_settings(stack, topics, redis_url=dead_redis)) as api:
        response = await api.client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        assert body["checks"]["redis"]["status"] == "down"


async def test_metrics_count_operations_and_cache(api: Api) -> None:
    await api.gql(SEARCH_IDS, {"query": "metrics probe", "first": 2})
    await api.errors(SEARCH_IDS, {"query": "metrics probe", "first": 0})
    text = (await api.client.get("/metrics")).text
    assert 'jobstream_api_graphql_operations_total{operation="search",outcome="ok"}' in text
    assert 'jobstream_api_graphql_operations_total{operation="search",outcome="error"}' in text
    assert 'jobstream_api_graphql_seconds_count{operation="search"}' in text
    assert 'jobstream_cache_hits_total{kind="search",level="l1"}' in text
    assert 'jobstream_cache_hits_total{kind="posting",level="l1"}' in text
    assert "jobstream_cache_data_generation" in text


def test_worker_still_alive(worker: WorkerProcess) -> None:
    assert worker.alive(), worker.tail()


async def test_graphiql_in_a_browser_and_queries_over_get(api: Api) -> None:
    page = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    query = await api.client.get("/graphql", params={"query": "{ cacheStats { generation } }"})
    assert query.status_code == 200
    assert "generation" in query.json()["data"]["cacheStats"]
    mutation = await api.client.get(
        "/graphql", params={"query": "mutation { cacheFlush { cleared } }"}
    )
    assert mutation.status_code in (400, 405)
    assert mutation.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_several_server_processes_serve_one_port(
    api: Api, topics: Topics, tmp_path: Path
) -> None:
    """``python -m api --workers 2``: two uvicorn processes behind one port, both answering
    from the same read model; SIGTERM stops them all."""
    port = free_port()
    env = topics.env(JOBSTREAM_API_PORT=str(port), JOBSTREAM_LOG_LEVEL="WARNING")
    log = tmp_path / "api.log"
    servers: list[psutil.Process] = []
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "api", "--workers", "2", cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def healthy() -> bool:
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, timeout=90, what="API processes to answer", interval=0.5)
            servers = [
                child
                for child in psutil.Process(proc.pid).children()
                if "spawn_main" in " ".join(child.cmdline())
            ]
            assert len(servers) >= 2, (servers, log.read_text())
            query = "query($q: String!) { search(query: $q, first: 4) { edges { node { id } } } }"
            for _ in range(8):  # new connections: the kernel spreads them over both
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as fresh:
                    answer = await fresh.post(
                        "/graphql", json={"query": query, "variables": {"q": "python backend"}}
                    )
                edges = answer.json()["data"]["search"]["edges"]
                assert edges[0]["node"]["id"] in PYTHON_BACKEND, answer.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0, log.read_text()
    _, alive = psutil.wait_procs(servers, timeout=10)
    assert not alive, alive


async def test_search_modes_and_a_bad_semantic_weight(api: Api) -> None:
    keyword = await api.search_ids("kubernetes", first=100, mode="KEYWORD")
    assert keyword
    assert set(keyword) < {doc.id for doc in CORPUS}
    assert set(keyword) <= set(await api.search_ids("kubernetes", first=100, mode="HYBRID"))
    for weight in (-0.5, 1.01):
        errors = await api.errors(
            'query($w: Float) { search(query: "go", semanticWeight: $w) { totalCount } }',
            {"w": weight},
        )
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
        assert errors[0]["extensions"]["field"] == "semanticWeight", errors
        assert "semanticWeight" in errors[0]["message"]
