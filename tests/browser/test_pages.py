"""The web UI in headless chromium: search, filter, page, open, follow, 360 px.

Each test leaves a full-page screenshot in tests/browser/artifacts/ (git-ignored), so a
failing run shows what the browser saw.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import PUBLISH
from tests.support.corpus import CORPUS
from tests.support.provision import PUBLISH_HEADERS

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, base_url=base_url, java_script_enabled=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert errors == [], errors


def shot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def result_titles(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("ol.results h3 a").all_inner_texts()]


def test_search_by_meaning(page: Any, artifacts: Path) -> None:
    page.goto("/")
    assert page.title() == "Job search \u2013 JobStream"
    page.get_by_label("What are you looking for?").fill("registered nurse in a hospital")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=registered+nurse*")
    assert set(result_titles(page)[:2]) == {"Registered Nurse", "Intensive Care Nurse"}
    # An honest count: the postings matching the query, not the whole table.
    assert 2 <= int(page.locator("p.summary strong").inner_text()) < len(CORPUS)
    shot(page, artifacts, "search")


def test_apply_filters_and_remove_one(page: Any, artifacts: Path) -> None:
    page.goto("/?q=developer")
    page.get_by_role("checkbox", name="Remote").check()
    page.get_by_label("Skills, comma-separated (all required)").fill("python")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**remote=remote**")
    expected = {d.title for d in CORPUS if d.remote == "REMOTE" and "python" in d.skills}
    assert set(result_titles(page)) == expected
    # Of the filtered postings, those matching "developer" (the list goes on past them).
    assert 1 <= int(page.locator("p.summary strong").inner_text()) <= len(expected)
    shot(page, artifacts, "filtered")
    page.get_by_role("link", name="Remove filter Skill: python").click()
    page.wait_for_load_state()
    assert "skills" not in page.url
    assert len(result_titles(page)) == min(20, sum(d.remote == "REMOTE" for d in CORPUS))


def test_page_forward_and_back_to_the_first(page: Any, artifacts: Path) -> None:
    page.goto("/?q=engineer")
    first = result_titles(page)
    assert len(first) == 20
    page.get_by_role("link", name="Next page →").click()
    page.wait_for_url("**after=**")
    second = result_titles(page)
    assert second
    assert not set(first) & set(second) or len(first + second) == len(set(first + second))
    shot(page, artifacts, "page-2")
    page.get_by_role("link", name="← First page").click()
    page.wait_for_load_state()
    assert result_titles(page) == first


def test_open_a_posting_and_follow_a_similar_one(page: Any, artifacts: Path) -> None:
    page.goto("/?q=kubernetes+devops")
    top = page.locator("ol.results h3 a").first
    title = top.inner_text()
    top.click()
    page.wait_for_url("**/postings/**")
    assert page.locator("h1").inner_text() == title
    similar = page.locator("section[aria-labelledby=similar-heading] h3 a")
    assert similar.count() == 6
    next_title = similar.first.inner_text()
    shot(page, artifacts, "posting")
    similar.first.click()
    page.wait_for_url("**/postings/**")
    assert page.locator("h1").inner_text() == next_title
    page.get_by_role("link", name="← Search all postings").click()
    page.wait_for_url("**/")


def test_keyboard_only_search(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")  # the skip link comes first and is visible when focused
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.locator("#q").focus()
    page.keyboard.type("truck driver")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=truck+driver**")
    assert result_titles(page)[0] == "Truck Driver"


def test_phone_viewport_360px(browser: Any, base_url: str, artifacts: Path) -> None:
    context = browser.new_context(viewport=PHONE, base_url=base_url, is_mobile=True)
    page = context.new_page()
    try:
        page.goto("/?q=python+developer")
        remote = page.get_by_role("checkbox", name="Remote")
        assert not remote.is_visible()  # filters fold on a phone until opened
        page.get_by_text("Filters", exact=True).click()
        remote.check()
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url("**remote=remote**")
        assert page.get_by_role("checkbox", name="Remote").is_visible()  # open when set
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"horizontal scroll: page is {width}px wide"
        assert page.locator("ol.results li.card").count() > 0
        shot(page, artifacts, "phone-search")
        page.locator("ol.results h3 a").first.click()
        page.wait_for_url("**/postings/**")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, artifacts, "phone-posting")
    finally:
        context.close()


def test_works_without_javascript(browser: Any, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/?q=teacher")
        page.get_by_role("checkbox", name="Part time").check()
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url("**type=part_time**")
        assert "English Teacher" in result_titles(page)
    finally:
        context.close()


def test_bad_url_shows_a_400_page(browser: Any, base_url: str, artifacts: Path) -> None:
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    try:
        response = page.goto("/?remote=moon")
        assert response.status == 400
        assert "remote" in page.locator("div.notice").inner_text()
        shot(page, artifacts, "bad-param")
        response = page.goto("/postings/does-not-exist")
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Page not found"
    finally:
        context.close()


def test_a_korean_browser_gets_korean_pages(browser: Any, base_url: str, artifacts: Path) -> None:
    """Accept-Language (the browser's locale) picks Korean: labels, search, a posting."""
    context = browser.new_context(viewport=DESKTOP, base_url=base_url, locale="ko-KR")
    page = context.new_page()
    try:
        page.goto("/")
        assert page.title() == "채용 공고 검색 \u2013 JobStream"
        assert page.evaluate("document.documentElement.lang") == "ko"
        page.get_by_label("어떤 일자리를 찾으세요?").fill("registered nurse in a hospital")
        page.get_by_role("button", name="검색", exact=True).click()
        page.wait_for_url("**/?q=registered+nurse*")
        assert set(result_titles(page)[:2]) == {"Registered Nurse", "Intensive Care Nurse"}
        assert "관련도순" in page.locator("p.summary").inner_text()
        page.get_by_role("checkbox", name="정규직").check()
        page.get_by_role("button", name="필터 적용").click()
        page.wait_for_url("**type=full_time**")
        assert page.get_by_role("link", name="필터 해제: 정규직").is_visible()
        shot(page, artifacts, "ko-search")
        page.locator("ol.results h3 a").first.click()
        page.wait_for_url("**/postings/**")
        assert page.get_by_role("heading", name="직무 소개").is_visible()
        assert page.get_by_role("heading", name="비슷한 채용 공고").is_visible()
        shot(page, artifacts, "ko-posting")
    finally:
        context.close()


def test_the_language_switch_persists_across_paging(page: Any, artifacts: Path) -> None:
    page.goto("/")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.get_by_role("link", name="한국어", exact=True).click()
    page.wait_for_url("**lang=ko**")
    assert page.evaluate("document.documentElement.lang") == "ko"
    first = result_titles(page)
    page.get_by_role("link", name="다음 페이지 →").click()
    page.wait_for_url("**after=**")
    assert "lang=ko" in page.url
    assert page.locator("h1").inner_text() == "다음 일자리를 찾아보세요"
    assert not set(first) & set(result_titles(page))
    shot(page, artifacts, "ko-page-2")
    page.get_by_role("link", name="← 첫 페이지").click()
    page.wait_for_load_state()
    assert result_titles(page) == first
    page.goto("/")  # a bare address: the cookie remembers the choice
    assert page.evaluate("document.documentElement.lang") == "ko"
    page.get_by_role("link", name="English", exact=True).click()
    page.wait_for_url("**lang=en**")
    assert page.locator("h1").inner_text() == "Find your next job"


def test_zz_new_postings_are_announced_while_the_page_is_open(page: Any, base_url: str) -> None:
    """Runs last (it adds a posting): the open page's poll notices the new row."""
    page.goto("/?remote=onsite")
    live = page.locator("#live")
    assert live.inner_text() == ""
    doc = CORPUS[0]
    posting = doc.input(id="web-new-1", title="Night Shift Baker", remoteMode="ONSITE")
    with httpx.Client(base_url=base_url, timeout=30) as client:
        body = client.post(
            "/graphql",
            json={"query": PUBLISH, "variables": {"input": posting}},
            headers=PUBLISH_HEADERS,
        )
        assert body.json()["data"]["publishPosting"]["errors"] == []
    page.get_by_role("link", name="1 new posting landed: show them").click(timeout=30_000)
    page.wait_for_load_state()
    assert "Night Shift Baker" in result_titles(page)


def test_alert_me_creates_an_alert_without_javascript(
    browser: Any, base_url: str, artifacts: Path
) -> None:
    """The search page's "Alert me" form (issue #13): a plain POST, then the links shown
    once; the CSP lets the form post (form-action 'self')."""
    context = browser.new_context(base_url=base_url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/?q=nurse&country=DE")
        page.get_by_label("Email (optional)").fill("nurse.alerts@example.com")
        shot(page, artifacts, "alert-form")
        page.get_by_role("button", name="Create the alert").click()
        page.wait_for_url("**/alerts/ss_*/created?secret=*")
        assert page.get_by_role("heading", level=1).inner_text() == "Your job alert is saved"
        links = page.locator("dl.alert-links a").all_inner_texts()
        assert len(links) == 2
        assert "/alerts/ss_" in links[0]
        assert ".atom?secret=" in links[1]
        shot(page, artifacts, "alert-created")
        hrefs = [a.get_attribute("href") for a in page.locator("dl.alert-links a").all()]
        assert all(h.startswith("/alerts/ss_") for h in hrefs), hrefs  # links on this site
    finally:
        context.close()


def test_graphiql_runs_a_query_offline(browser: Any, base_url: str, artifacts: Path) -> None:
    """GraphiQL at /graphql with every request to another origin refused (no internet):
    its scripts and styles come from the API, the editor renders and runs a query."""
    context = browser.new_context(viewport=DESKTOP, base_url=base_url)
    context.set_default_timeout(20_000)
    elsewhere: list[str] = []

    def offline(route: Any) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", offline)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/graphql?q=" + "{ __typename }")
        page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()
        page.locator(".result-window").get_by_text('"Query"').wait_for()
        shot(page, artifacts, "graphiql")
    finally:
        context.close()
    assert elsewhere == []
    assert errors == []
