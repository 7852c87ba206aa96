"""The web pages in Korean and English on the real stack (Litestar's test client).

The language is negotiated from Accept-Language, a ``?lang=`` switch overrides it, is
remembered in a cookie and kept by every link the page makes; error pages speak the
visitor's language too.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from tests.integration.test_web import CARD_LINK, NEXT_LINK
from tests.support.api import Api
from tests.support.corpus import CORPUS

pytestmark = pytest.mark.integration

KO = {"accept": "text/html", "accept-language": "ko-KR,ko;q=0.9,en;q=0.5"}
EN = {"accept": "text/html", "accept-language": "en-GB,en;q=0.9"}
HREFS = re.compile(r'href="(/[^"]*)"')


async def fetch(
    api: Api, url: str, headers: dict[str, str], status: int = 200, cookie: str | None = None
) -> Any:
    """One request with only the given cookie (the client would keep the switch's)."""
    api.client.cookies.clear()
    if cookie:
        api.client.cookies.set("lang", cookie)
    response = await api.client.get(url, headers=headers)
    api.client.cookies.clear()
    assert response.status_code == status, (url, response.status_code, response.text[:2000])
    assert "Traceback" not in response.text
    return response


def page_links(html: str) -> list[str]:
    """The page's own links (not assets, not the API, not the language switch)."""
    links = [unescape(h) for h in HREFS.findall(html)]
    return [
        h
        for h in links
        if not h.startswith(("/static/", "/graphql", "/favicon")) and "lang=en" not in h
    ]


async def test_accept_language_picks_korean_and_the_response_says_so(api: Api) -> None:
    response = await fetch(api, "/", KO)
    html = response.text
    assert '<html lang="ko">' in html
    assert response.headers["content-language"] == "ko"
    assert "accept-language" in response.headers["vary"].lower()
    assert "set-cookie" not in response.headers  # nothing chosen, nothing remembered
    assert "<title>채용 공고 검색 \u2013 JobStream</title>" in html
    for text in (
        "영어 수준",
        "근무 방식",
        "고용 형태",
        "원격 근무",
        "정규직",
        "필터 적용",
        "최신순",
    ):
        assert text in html, text
    assert result_count_ko(html) == len(CORPUS)
    assert 'href="/?lang=en" hreflang="en" lang="en">English</a>' in html
    english = await fetch(api, "/", EN)
    assert '<html lang="en">' in english.text
    assert english.headers["content-language"] == "en"
    assert '<a href="/?lang=ko" hreflang="ko" lang="ko">한국어</a>' in english.text
    assert "Find your next job" in english.text
    no_header = await fetch(api, "/", {"accept": "text/html"})
    assert '<html lang="en">' in no_header.text


def result_count_ko(html: str) -> int:
    found = re.search(r"채용 공고 <strong>([\d,]+)</strong>건", html)
    assert found, html[:3000]
    return int(found.group(1).replace(",", ""))


async def test_the_switch_overrides_the_browser_and_every_link_keeps_it(api: Api) -> None:
    response = await fetch(api, "/?q=python+developer&remote=remote&remote=hybrid&lang=ko", EN)
    html = response.text
    assert '<html lang="ko">' in html
    assert re.search(r"lang=ko;.*Path=/", response.headers["set-cookie"])
    assert '<input type="hidden" name="lang" value="ko">' in html  # the form keeps it too
    links = page_links(html)
    assert links
    assert all("lang=ko" in link for link in links), links
    switch = re.search(r'<a href="([^"]+)" hreflang="en" lang="en">English</a>', html)
    assert switch
    assert unescape(switch.group(1)) == "/?q=python+developer&remote=remote&remote=hybrid&lang=en"


async def test_paging_in_korean_stays_korean(api: Api) -> None:
    url, seen, pages = "/?lang=ko", [], 0
    while url:
        html = (await fetch(api, url, EN)).text
        assert '<html lang="ko">' in html
        seen += CARD_LINK.findall(html)
        link = NEXT_LINK.search(html)
        url = unescape(link.group(1)) if link else ""
        assert not url or "lang=ko" in url
        pages += 1
    assert pages >= 2
    assert len(seen) == len(CORPUS)
    assert all(card.endswith("?lang=ko") for card in seen)


async def test_the_cookie_remembers_the_switch_without_touching_links(api: Api) -> None:
    html = (await fetch(api, "/?q=nurse", EN, cookie="ko")).text
    assert '<html lang="ko">' in html
    assert "lang=ko" not in "".join(page_links(html))  # canonical links; the cookie says it
    html = (await fetch(api, "/?q=nurse&lang=en", KO, cookie="ko")).text
    assert '<html lang="en">' in html  # the URL beats the cookie


async def test_posting_page_in_korean(api: Api) -> None:
    posting = CORPUS[0]
    html = (await fetch(api, f"/postings/{posting.id}?lang=ko", EN)).text
    assert '<html lang="ko">' in html
    assert posting.title in html  # the posting's own text is not translated
    for text in ("직무 소개", "비슷한 채용 공고", "게시일", "← 전체 채용 공고 검색", "경력"):
        assert text in html, text
    assert re.search(r"\d{4}년 \d{1,2}월 \d{1,2}일", html)
    assert all("lang=ko" in link for link in page_links(html))


@pytest.mark.parametrize(
    ("url", "status", "title", "says"),
    [
        ("/?remote=moon", 400, "이 검색은 실행할 수 없습니다", "알 수 없는 값입니다"),
        ("/?exp_min=x", 400, "이 검색은 실행할 수 없습니다", "연수를 정수로 입력하세요"),
        ("/?exp_min=5&exp_max=2", 400, "이 검색은 실행할 수 없습니다", "자세한 내용(영어)"),
        ("/?lang=fr", 400, "이 검색은 실행할 수 없습니다", "en, ko"),
        ("/no/such/page", 404, "페이지를 찾을 수 없습니다", "이 주소에는 아무것도 없습니다"),
        ("/postings/unknown-id-1", 404, "페이지를 찾을 수 없습니다", "채용이 마감되어"),
    ],
)
async def test_error_pages_in_korean(
    api: Api, url: str, status: int, title: str, says: str
) -> None:
    response = await fetch(api, url, KO, status=status)
    html = response.text
    assert '<html lang="ko">' in html
    assert response.headers["content-language"] == "ko"
    assert f"<h1>{title}</h1>" in html
    assert says in html
    assert "Traceback" not in html


async def test_a_korean_400_page_links_back_in_korean(api: Api) -> None:
    html = (await fetch(api, "/?q=python&remote=moon&lang=ko", EN, status=400)).text
    assert "매개변수 <strong>remote</strong>의 값을 사용할 수 없습니다" in html
    back = re.search(r'<a href="([^"]+)">이 값을 빼고 검색</a>', html)
    assert back
    assert unescape(back.group(1)) == "/?q=python&lang=ko"


async def test_an_unexpected_failure_in_korean(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    service = api.client.app.state.resources.service

    async def broken(ids: Any) -> Any:
        raise RuntimeError("db password is hunter2")

    monkeypatch.setattr(service.repository, "get_many", broken)
    html = (await fetch(api, "/postings/never-cached-ko", KO, status=500)).text
    assert "<h1>문제가 발생했습니다</h1>" in html
    assert re.search(r"참조 번호: <code>[0-9a-f]{12}</code>", html)
    assert "hunter2" not in html


async def test_json_clients_are_unaffected(api: Api) -> None:
    response = await api.client.get("/web/count?lang=ko", headers=KO)
    assert response.status_code == 200
    assert response.json() == {"count": len(CORPUS)}
    english = await fetch(api, "/?remote=moon", EN, status=400)
    assert "The parameter <strong>remote</strong> is not usable" in english.text
