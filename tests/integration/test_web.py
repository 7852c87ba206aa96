"""The web pages on the real stack, over Litestar's test client (no browser).

The API tests' fixed corpus goes in through the real path (publishPosting -> Kafka -> a
sink worker -> rows) once per module. Then: every filter parameter narrows the results
exactly as the documented filter semantics say, pagination walks the whole ranking,
the detail page and its similar postings, and every malformed URL gets a clear 400/404
page naming the problem, never a trace.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from tests.support.api import (
    Api,
    wait_until,
)
from tests.support.corpus import BY_ID, CORPUS, matches
from tests.support.provision import PUBLISH_HEADERS

pytestmark = pytest.mark.integration

CARD_LINK = re.compile(r'<h3><a href="/postings/([^"]+)">')
NEXT_LINK = re.compile(r'<a class="button" href="([^"]+)" rel="next">')


async def get(api: Api, url: str, status: int = 200) -> str:
    response = await api.client.get(url, headers={"accept": "text/html"})
    assert response.status_code == status, (url, response.status_code, response.text[:2000])
    assert "Traceback" not in response.text
    return response.text


def ids_of(html: str) -> list[str]:
    return CARD_LINK.findall(html)


def result_count(html: str) -> int:
    found = re.search(r'<p class="summary"[^>]*><strong>([\d,]+)</strong>', html)
    assert found, html[:3000]
    return int(found.group(1).replace(",", ""))


async def all_pages(api: Api, url: str) -> list[str]:
    """Every id on every page, following the Next links."""
    ids: list[str] = []
    pages = 0
    while url:
        html = await get(api, url)
        ids += ids_of(html)
        link = NEXT_LINK.search(html)
        url = unescape(link.group(1)) if link else ""
        pages += 1
        assert pages < 20
    return ids


# --- the search page ----------------------------------------------------------------


async def test_home_lists_newest_first_with_count_and_accessible_basics(api: Api) -> None:
    html = await get(api, "/")
    assert '<html lang="en">' in html
    assert '<meta name="description"' in html
    assert result_count(html) == len(CORPUS)
    newest = sorted(CORPUS, key=lambda d: d.posted_at, reverse=True)
    assert ids_of(html) == [d.id for d in newest[:20]]
    for control in ("q", "exp_min", "exp_max", "country", "city", "skills"):
        assert f'<label for="{control}"' in html or f'for="{control}"' in html
    # the CSS is a hashed, immutable asset
    css = re.search(r'href="(/static/app\.[0-9a-f]{10}\.css)"', html)
    assert css
    response = await api.client.get(css.group(1))
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    etag = response.headers["etag"]
    again = await api.client.get("/static/app.css", headers={"if-none-match": etag})
    assert again.status_code == 304


async def test_query_ranks_by_meaning(api: Api) -> None:
    html = await get(api, "/?q=registered+nurse+in+a+hospital")
    assert set(ids_of(html)[:2]) == {"med-1", "med-2"}
    assert "Jobs matching “registered nurse in a hospital”" in html
    # the query's matches (its words, or its meaning above the floor), not the table
    assert 0 < result_count(html) < len(CORPUS)


@pytest.mark.parametrize(
    ("query_string", "gql_filter"),
    [
        ("exp_min=5", {"experienceMinYears": 5}),
        ("exp_max=1", {"experienceMaxYears": 1}),
        ("exp_min=2&exp_max=3", {"experienceMinYears": 2, "experienceMaxYears": 3}),
        ("english=native&english=fluent", {"englishLevels": ["NATIVE", "FLUENT"]}),
        ("english=NONE", {"englishLevels": ["NONE"]}),
        ("remote=remote", {"remoteModes": ["REMOTE"]}),
        ("remote=onsite,hybrid", {"remoteModes": ["ONSITE", "HYBRID"]}),
        ("type=part_time", {"employmentTypes": ["PART_TIME"]}),
        ("type=contract&type=internship", {"employmentTypes": ["CONTRACT", "INTERNSHIP"]}),
        ("country=pl", {"countryCode": "PL"}),
        ("city=hamburg", {"city": "hamburg"}),
        ("city=Munich&country=DE", {"city": "Munich", "countryCode": "DE"}),
        ("skills=python", {"skillsAll": ["python"]}),
        ("skills=Python,+Django", {"skillsAll": ["python", "django"]}),
        (
            "remote=remote&english=native&q=engineer",
            {"remoteModes": ["REMOTE"], "englishLevels": ["NATIVE"]},
        ),
        ("skills=&city=&country=&exp_min=&english=", {}),
    ],
)
async def test_every_filter_parameter(
    api: Api, query_string: str, gql_filter: dict[str, Any]
) -> None:
    expected = {d.id for d in CORPUS if matches(d, gql_filter)}
    ids = await all_pages(api, "/?" + query_string)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    html = await get(api, "/?" + query_string)
    if "q=" in query_string:  # the query's matches among them; the ranking goes on past
        assert result_count(html) <= len(expected)
    else:
        assert result_count(html) == len(expected)
    if expected:
        assert "No postings match" not in html
    else:
        assert "No postings match these filters" in html


async def test_pagination_walks_everything_once_with_and_without_a_query(api: Api) -> None:
    for url in ("/", "/?q=software+developer"):
        ids = await all_pages(api, url)
        assert sorted(ids) == sorted(d.id for d in CORPUS)
    page_two = NEXT_LINK.search(await get(api, "/?q=python"))
    assert page_two
    html = await get(api, unescape(page_two.group(1)))
    assert "First page" in html
    assert 'name="robots" content="noindex"' in html


async def test_filter_chips_remove_one_filter(api: Api) -> None:
    html = await get(api, "/?remote=remote&country=PL")
    chip = re.search(r'<a href="([^"]+)" aria-label="Remove filter Remote">', html)
    assert chip
    url = unescape(chip.group(1))
    assert "remote=" not in url
    assert "country=PL" in url
    assert set(ids_of(await get(api, url))) == {d.id for d in CORPUS if d.country == "PL"}


async def test_empty_result_page_is_helpful(api: Api) -> None:
    html = await get(api, "/?skills=cobol")
    assert "No postings match these filters" in html
    assert "Remove filter Skill: cobol" in html


async def test_count_endpoint_follows_the_filters(api: Api) -> None:
    response = await api.client.get("/web/count?remote=remote")
    assert response.status_code == 200
    assert response.json() == {"count": sum(d.remote == "REMOTE" for d in CORPUS)}
    bad = await api.client.get("/web/count?remote=moon")
    assert bad.status_code == 400
    assert bad.json()["param"] == "remote"


# --- bad URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query_string", "param", "words"),
    [
        ("remote=moon", "remote", "unknown remote value 'moon'"),
        ("english=klingon", "english", "unknown english value"),
        ("type=forever", "type", "unknown type value"),
        ("exp_min=-1", "exp_min", "between 0 and"),
        ("exp_min=abc", "exp_min", "whole number"),
        ("exp_max=1000", "exp_max", "between 0 and"),
        ("exp_min=5&exp_max=2", "exp_min", "greater than exp_max"),
        ("exp_min=1&exp_min=2", "exp_min", "2 times"),
        ("country=ZZ", "country", "ISO 3166-1"),
        ("country=Germany", "country", "ISO 3166-1"),
        ("after=garbage", "after", ""),
        ("q=python&after=" + "A" * 300, "after", ""),
        ("after=" + "x" * 5000, "query string", "longer than"),
        ("q=" + "a" * 1001, "q", "limit is 1000"),
        ("skills=" + ",".join(f"s{i}" for i in range(60)), "skills", "at most"),
    ],
)
async def test_malformed_query_strings_are_400_pages_naming_the_parameter(
    api: Api, query_string: str, param: str, words: str
) -> None:
    html = await get(api, "/?" + query_string, status=400)
    assert f"The parameter <strong>{param}</strong> is not usable" in html
    assert words in unescape(html)
    assert '<meta name="robots" content="noindex">' in html


async def test_a_cursor_from_another_search_is_400(api: Api) -> None:
    html = await get(api, "/?remote=remote")
    link = NEXT_LINK.search(await get(api, "/"))
    assert link
    assert html
    latest_cursor = unescape(link.group(1)).split("after=")[1]
    await get(api, f"/?remote=onsite&after={latest_cursor}", status=400)
    await get(api, f"/?q=python&after={latest_cursor}", status=400)
    search_link = NEXT_LINK.search(await get(api, "/?q=python"))
    assert search_link
    search_cursor = unescape(search_link.group(1)).split("after=")[1]
    await get(api, f"/?after={search_cursor}", status=400)
    await get(api, f"/?q=python&country=DE&after={search_cursor}", status=400)


# --- the posting page ---------------------------------------------------------------


async def test_posting_page_shows_everything_and_similar_postings_link_on(api: Api) -> None:
    doc = BY_ID["py-1"]
    html = await get(api, "/postings/py-1")
    assert f"<h1>{doc.title}</h1>" in html
    assert doc.description in html
    assert "80,000\u2013100,000 EUR" in html
    assert "Fluent" in html
    assert "5\u20138 years of experience" in html
    similar = ids_of(html.split('id="similar-heading"')[1])
    assert len(similar) == 6
    assert "py-1" not in similar
    assert set(similar[:3]) <= {"py-2", "py-3", "py-4", "py-5", "jv-1", "jv-2", "ds-1"}
    onward = await get(api, f"/postings/{similar[0]}")
    assert "Similar postings" in onward
    assert f'<meta name="description" content="{doc.title} at' in html


@pytest.mark.parametrize(
    "path",
    ["/postings/nope", "/postings/" + "x" * 300, "/postings/%00%ff", "/no/such/page"],
)
async def test_unknown_pages_are_404_pages(api: Api, path: str) -> None:
    html = await get(api, path, status=404)
    assert "Page not found" in html
    assert '<html lang="en">' in html


async def test_api_clients_still_get_json_errors_and_robots_txt(api: Api) -> None:
    response = await api.client.get("/no/such/thing", headers={"accept": "application/json"})
    assert response.status_code == 404
    assert response.json()["status_code"] == 404
    robots = await api.client.get("/robots.txt")
    assert robots.status_code == 200
    assert "Disallow: /graphql" in robots.text


async def test_a_deleted_posting_disappears_from_the_pages(api: Api) -> None:
    html = await get(api, "/postings/hos-2")
    assert "Hotel Receptionist" in html
    data = await api.gql(
        "mutation($id: ID!) { deletePosting(id: $id, version: 2) { accepted { id } } }",
        {"id": "hos-2"},
        PUBLISH_HEADERS,
    )
    assert data["deletePosting"]["accepted"] == {"id": "hos-2"}

    async def gone() -> bool:
        response = await api.client.get("/postings/hos-2")
        return response.status_code == 404

    await wait_until(gone, timeout=30, what="hos-2 to be gone")
    assert "hos-2" not in ids_of(await get(api, "/"))


async def test_pages_are_gzipped_and_the_api_is_left_alone(api: Api) -> None:
    page = await api.client.get("/?q=python", headers={"accept-encoding": "gzip"})
    assert page.headers.get("content-encoding") == "gzip"
    assert page.headers["cache-control"] == "no-cache"
    gql = await api.client.post(
        "/graphql",
        json={"query": '{ search(query: "python", first: 50) { edges { node { id } } } }'},
        headers={"accept-encoding": "gzip"},
    )
    assert gql.status_code == 200
    assert "content-encoding" not in gql.headers


async def test_a_400_page_links_to_the_same_search_without_the_bad_parameter(api: Api) -> None:
    html = await get(api, "/?q=python&remote=moon&country=DE", status=400)
    link = re.search(r'<a href="([^"]+)">Run the search without it</a>', html)
    assert link
    assert unescape(link.group(1)) == "/?q=python&country=DE"
    await get(api, unescape(link.group(1)))


async def test_an_unexpected_failure_is_a_500_page_with_a_reference_and_no_trace(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = api.client.app.state.resources.service

    async def broken(ids: Any) -> Any:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(service.repository, "get_many", broken)
    html = await get(api, "/postings/never-cached-id", status=500)
    assert "Something went wrong" in html
    assert re.search(r"Reference: <code>[0-9a-f]{12}</code>", html)
    assert "hunter2" not in html
