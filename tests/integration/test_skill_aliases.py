"""Skill aliases and typos on the real stack: postings go in through publishPosting, Kafka
and a sink worker; GraphQL filters by alias ("k8s" finds postings that say "kubernetes"
and the other way round), a user alias file extends the table, a bad one stops the
settings naming file:line, a typo gets a "did you mean" from the sink-kept vocabulary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from schemas.search import synonyms
from schemas.settings import Settings
from tests.support.api import Api, app_settings, running_api, wait_until
from tests.support.corpus import CORPUS
from tests.support.sink import Topics, WorkerProcess

pytestmark = pytest.mark.integration

SKILLS = {
    "sk-kubernetes": ["kubernetes", "helm"],
    "sk-k8s": ["k8s", "terraform"],
    "sk-golang": ["golang", "postgres"],
    "sk-python": ["python", "django"],
}

SEARCH = """
query S($filter: PostingFilter) {
  search(query: "work", filter: $filter, first: 50, mode: SEMANTIC) {
    edges { node { id } }
    suggestions { term suggestion }
  }
}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def loaded(stack: Settings, topics: Topics, worker: WorkerProcess) -> Settings:
    settings = app_settings(stack, topics, embedder="hash")
    async with running_api(settings) as api:
        for (posting_id, skills), doc in zip(SKILLS.items(), CORPUS, strict=False):
            result = await api.publish(doc.input(id=posting_id, skills=skills))
            assert result["errors"] == [], result

    async def landed() -> bool:
        conn = await asyncpg.connect(stack.postgres_dsn)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM postings")) == len(SKILLS)
        finally:
            await conn.close()

    await wait_until(landed, timeout=90, what="the postings", interval=0.25)
    return settings


@pytest_asyncio.fixture(loop_scope="session")
async def api(loaded: Settings) -> AsyncIterator[Api]:
    async with running_api(loaded) as running:
        yield running


async def search(api: Api, **filter: Any) -> tuple[set[str], list[dict[str, str]]]:
    data = (await api.gql(SEARCH, {"filter": filter}))["search"]
    return {e["node"]["id"] for e in data["edges"]}, data["suggestions"]


async def test_an_alias_finds_every_spelling(api: Api) -> None:
    both = {"sk-kubernetes", "sk-k8s"}
    assert (await search(api, skillsAll=["k8s"]))[0] == both
    assert (await search(api, skillsAll=["Kubernetes"]))[0] == both
    assert (await search(api, skillsAny=["go", "kube"]))[0] == {"sk-golang", *both}
    assert (await search(api, skillsAll=["golang", "postgresql"]))[0] == {"sk-golang"}
    assert (await search(api, skillsAll=["k8s", "helm"]))[0] == {"sk-kubernetes"}


async def test_a_typo_gets_a_did_you_mean(api: Api) -> None:
    ids, suggestions = await search(api, skillsAll=["kubernets"])
    assert ids == set()
    assert suggestions == [{"term": "kubernets", "suggestion": "kubernetes"}]
    ids, suggestions = await search(api, skillsAll=["k8s", "djangoo"])
    assert suggestions == [{"term": "djangoo", "suggestion": "django"}]
    # a matching skill, or one nothing resembles, gets no suggestion
    assert (await search(api, skillsAll=["python"]))[1] == []
    assert (await search(api, skillsAll=["qqqqzz"]))[1] == []


WORDS = """
query W($q: String!, $mode: SearchMode) {
  search(query: $q, first: 10, mode: $mode) {
    edges { node { id } }
    totalCount
    suggestions { term suggestion }
  }
}
"""


async def by_words(api: Api, query: str, mode: str) -> tuple[list[str], int, list[Any]]:
    data = (await api.gql(WORDS, {"q": query, "mode": mode}))["search"]
    return [e["node"]["id"] for e in data["edges"]], data["totalCount"], data["suggestions"]


@pytest.mark.parametrize("mode", ["KEYWORD", "HYBRID"])
async def test_a_query_alias_matches_its_group(api: Api, mode: str) -> None:
    for query, meant in (
        ("k8s", {"sk-kubernetes", "sk-k8s"}),
        ("kubernetes", {"sk-kubernetes", "sk-k8s"}),
        ("postgres", {"sk-golang", "sk-k8s"}),  # sk-k8s says PostgreSQL in its description
        ("golang", {"sk-golang"}),
    ):
        ids, total, suggestions = await by_words(api, query, mode)
        assert set(ids[: len(meant)]) == meant, (query, ids)
        assert suggestions == []
        if mode == "KEYWORD":
            assert total == len(meant), query


@pytest.mark.parametrize("mode", ["KEYWORD", "HYBRID"])
async def test_a_query_typo_is_matched_as_the_nearest_term(api: Api, mode: str) -> None:
    for query, meant, fix in (
        ("kubernets", {"sk-kubernetes", "sk-k8s"}, "kubernetes"),
        ("pyhton", set(SKILLS), "python"),  # a transposition: 2 edits
        ("terrafrom", {"sk-k8s"}, "terraform"),
    ):
        ids, total, suggestions = await by_words(api, query, mode)
        assert set(ids[: len(meant)]) == meant, (query, ids, suggestions)
        assert suggestions == [{"term": query, "suggestion": fix}]
        if mode == "KEYWORD":
            assert total == len(meant), query
    # a word that occurs is never corrected; one nothing resembles finds nothing by words
    assert (await by_words(api, "helm", mode))[2] == []
    ids, total, suggestions = await by_words(api, "qqqqzz", mode)
    assert suggestions == []
    if mode == "KEYWORD":
        assert (ids, total) == ([], 0)


async def test_the_skill_facet_counts_aliases_under_their_canonical(api: Api) -> None:
    doc = "query F($q: String) { facets(query: $q) { skills { value count } } }"
    everything = (await api.gql(doc, {"q": None}))["facets"]["skills"]
    counts = {f["value"]: f["count"] for f in everything}
    assert (counts["kubernetes"], counts["go"], counts["postgresql"]) == (2, 1, 1)
    assert not {"k8s", "golang", "postgres"} & set(counts)
    assert [f["count"] for f in everything] == sorted(counts.values(), reverse=True)
    matched = (await api.gql(doc, {"q": "k8s"}))["facets"]["skills"]
    assert matched[0] == {"value": "kubernetes", "count": 2}


@pytest.mark.parametrize(
    ("lang", "said"), [("en", "Did you mean <a href="), ("ko", "을(를) 찾으셨나요?")]
)
async def test_the_search_page_says_did_you_mean(api: Api, lang: str, said: str) -> None:
    page = (await api.client.get("/", params={"q": "Kubernets", "lang": lang})).text
    assert said in page
    assert f'href="/?q=kubernetes&amp;lang={lang}">kubernetes</a>' in page
    skill = (await api.client.get("/", params={"skills": "djangoo", "lang": lang})).text
    assert f'href="/?skills=django&amp;lang={lang}">django</a>' in skill
    # the skill facet offers the matches' skills as filter links, with their counts
    assert f'href="/?q=Kubernets&amp;skills=kubernetes&amp;lang={lang}">kubernetes' in page


async def test_the_sink_keeps_the_vocabulary(stack: Settings, loaded: Settings) -> None:
    conn = await asyncpg.connect(stack.postgres_dsn)
    try:
        known = {r["skill"] for r in await conn.fetch("SELECT skill FROM skill_vocabulary")}
    finally:
        await conn.close()
    assert {s for skills in SKILLS.values() for s in skills} <= known


async def test_a_user_alias_file_extends_the_table(loaded: Settings, tmp_path: Path) -> None:
    path = tmp_path / "aliases.txt"
    path.write_text("# ours\nkubectl = kubernetes\npg = postgresql\n")
    settings = Settings(**{**loaded.model_dump(), "skill_aliases_file": path})
    try:
        async with running_api(settings) as api:
            assert (await search(api, skillsAll=["kubectl"]))[0] == {"sk-kubernetes", "sk-k8s"}
            assert (await search(api, skillsAll=["pg"]))[0] == {"sk-golang"}
    finally:
        synonyms.install(synonyms.load())  # the process-wide table back to the shipped one


def test_a_bad_alias_file_stops_the_start(loaded: Settings, tmp_path: Path) -> None:
    from schemas.settings import SettingsError, load_settings

    path = tmp_path / "aliases.txt"
    path.write_text("kubectl = kubernetes\nkubernetes = k8s\n")
    with pytest.raises(SettingsError) as err:
        load_settings(**{**loaded.model_dump(), "skill_aliases_file": path})
    assert "JOBSTREAM_SKILL_ALIASES_FILE" in str(err.value)
    assert f"{path}:2:" in str(err.value)
