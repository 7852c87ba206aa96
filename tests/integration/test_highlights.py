"""Search highlights on the real stack (issue #12): the query's terms as ranges over the
posting's own text, the nearest sentence for a match by meaning only, <mark> in the web
page with the posting's HTML shown as text, and no highlight work unless selected.

The API tests' corpus goes in through publishPosting, plus two postings of this module:
one naming a tool nothing else names, with markup in its description.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.api import Api, wait_until
from tests.support.corpus import CORPUS

pytestmark = pytest.mark.integration

RARE = "Zorblaxion"
NEEDLE = {
    **CORPUS[0].input(),
    "id": "hl-needle",
    "title": f"{RARE} Platform Engineer",
    "skills": ["zorblaxion", "linux"],
    "description": (
        f"You will operate our {RARE} clusters across three regions. "
        "Our stack is <script>alert('x')</script> plain HTML in a posting & more. "
        f"On call once a month; {RARE.lower()} upgrades are planned together."
        " Everything runs on Kubernetes."
    ),
}
CPP = {
    **CORPUS[0].input(),
    "id": "hl-cpp",
    "title": "C++ Rendering Programmer",
    "skills": ["c++"],
    "description": "Write modern C++ for our rendering engine. Profile it with care.",
}

SEARCH = """
query($q: String!, $mode: SearchMode, $first: Int) {
  search(query: $q, mode: $mode, first: $first) {
    edges { node { id title description }
            highlights { field kind text ranges { start length } } }
  }
}
"""
SEARCH_PLAIN = """
query($q: String!) { search(query: $q, first: 10) { edges { node { id title } } } }
"""


def marked(highlight: dict[str, Any]) -> list[str]:
    text = highlight["text"]
    return [text[r["start"] : r["start"] + r["length"]] for r in highlight["ranges"]]


@pytest.fixture(scope="module")
async def needles(api: Api) -> Api:
    for posting in (NEEDLE, CPP):
        result = await api.publish(posting)
        assert result["errors"] == [], result

    async def landed() -> bool:
        ids = await api.search_ids(RARE, mode="KEYWORD") + await api.search_ids(
            "C++", mode="KEYWORD"
        )
        return "hl-needle" in ids and "hl-cpp" in ids

    await wait_until(landed, timeout=60, what="the highlight needles", interval=0.25)
    return api


@pytest.mark.parametrize("mode", ["KEYWORD", "HYBRID"])
async def test_a_rare_term_is_marked_exactly_in_title_and_description(
    needles: Api, mode: str
) -> None:
    data = await needles.gql(SEARCH, {"q": RARE.lower(), "mode": mode, "first": 5})
    edge = data["search"]["edges"][0]
    assert edge["node"]["id"] == "hl-needle"
    by_field = {h["field"]: h for h in edge["highlights"]}
    assert set(by_field) == {"TITLE", "DESCRIPTION"}
    assert all(h["kind"] == "TERMS" for h in edge["highlights"])
    assert marked(by_field["TITLE"]) == [RARE]
    assert by_field["TITLE"]["text"] == NEEDLE["title"]
    description = [h for h in edge["highlights"] if h["field"] == "DESCRIPTION"]
    words = [w.lower() for h in description for w in marked(h)]
    assert words
    assert set(words) == {RARE.lower()}
    for h in description:  # fragments are the posting's text, markup included, untouched
        assert " ".join(h["text"].split()) in " ".join(NEEDLE["description"].split())
    assert any("<script>" in h["text"] for h in description)


async def test_stemmed_forms_and_spelled_out_tools_are_marked_as_written(needles: Api) -> None:
    data = await needles.gql(SEARCH, {"q": "C++ programmers", "mode": "KEYWORD", "first": 3})
    edge = next(e for e in data["search"]["edges"] if e["node"]["id"] == "hl-cpp")
    title = next(h for h in edge["highlights"] if h["field"] == "TITLE")
    assert title["text"] == CPP["title"]
    assert marked(title) == ["C++", "Programmer"]  # "programmers" stems to "programmer"


async def test_an_alias_and_a_typo_mark_the_term_they_match(needles: Api) -> None:
    for q in ("k8s", "kubernets"):
        data = await needles.gql(SEARCH, {"q": q, "mode": "KEYWORD", "first": 50})
        edge = next(e for e in data["search"]["edges"] if e["node"]["id"] == "hl-needle")
        words = {w for h in edge["highlights"] for w in marked(h)}
        assert words == {"Kubernetes"}, (q, edge["highlights"])


async def test_a_korean_query_gets_the_nearest_sentence(needles: Api) -> None:
    data = await needles.gql(SEARCH, {"q": "파이썬 백엔드 개발자", "mode": "HYBRID", "first": 5})
    edges = data["search"]["edges"]
    first = edges[0]
    assert [h["kind"] for h in first["highlights"]] == ["SENTENCE"], first
    sentence = first["highlights"][0]
    assert sentence["field"] == "DESCRIPTION"
    assert sentence["text"] in first["node"]["description"]
    assert marked(sentence) == [sentence["text"]]


async def test_the_web_page_marks_terms_and_shows_posting_html_as_text(needles: Api) -> None:
    response = await needles.client.get(f"/?q={RARE}", headers={"accept": "text/html"})
    assert response.status_code == 200
    html = response.text
    assert f"<mark>{RARE}</mark> Platform Engineer</a></h3>" in html
    assert re.search(rf'<p class="snippet">[^<]*<mark>{RARE}</mark>', html)
    assert "&lt;script&gt;alert(" in html
    assert "<script>alert" not in html


async def _highlight_loads(api: Api) -> float:
    body = (await api.client.get("/metrics")).text
    found = re.search(r'^jobstream_cache_loads_total\{kind="highlights"\} (\S+)$', body, re.M)
    return float(found.group(1)) if found else 0.0


async def test_no_highlight_work_unless_selected(needles: Api) -> None:
    before = await _highlight_loads(needles)
    for q in ("platform engineer on call", "rendering engine profiling"):
        await needles.gql(SEARCH_PLAIN, {"q": q})
    assert await _highlight_loads(needles) == before
    await needles.gql(SEARCH, {"q": "platform engineer on call", "first": 10})
    assert await _highlight_loads(needles) == before + 1
    await needles.gql(SEARCH, {"q": "platform engineer on call", "first": 10})  # cached
    assert await _highlight_loads(needles) == before + 1
