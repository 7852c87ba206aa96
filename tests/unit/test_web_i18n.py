"""The web UI's languages without a server: the catalog is complete and compiled, the
language is negotiated as documented, links keep it, and the templates render in Korean."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from api.web import template_config
from api.web.catalog import compiled, extract, po_path, read, translated
from api.web.i18n import (
    ENGLISH,
    LANGUAGES,
    SOURCE,
    Lang,
    Text,
    choose,
    from_accept_language,
    switch_url,
)
from api.web.params import BadParam, SearchParams, parse
from api.web.views import Card, FilterOptions, experience_text
from tests.unit.test_web_params import view

KOREAN = Lang("ko")
TRANSLATED = [code for code in LANGUAGES if code != SOURCE]
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _ids(catalog: Any) -> set[Any]:
    return {m.id for m in catalog if m.id}


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_text_of_the_pages_has_a_translation(code: str) -> None:
    used = _ids(extract())
    catalog = read(code)
    assert used, "nothing extracted: the extraction keywords are wrong"
    assert used - _ids(catalog) == set(), "run python -m api.web.catalog"
    assert _ids(catalog) - used == set(), "stale texts: run python -m api.web.catalog"
    untranslated = [m.id for m in catalog if m.id and not translated(m)]
    assert untranslated == []
    problems = [(m.id, errors) for m, errors in catalog.check()]  # placeholders kept
    assert problems == []


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_committed_mo_is_the_po_compiled(code: str) -> None:
    shipped = po_path(code).with_suffix(".mo").read_bytes()
    assert shipped == compiled(read(code)), "run python -m api.web.catalog"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
        ("en-US,en;q=0.9,ko;q=0.8", "en"),
        ("de-DE,de;q=0.9,ko;q=0.5", "ko"),  # the first one offered
        ("en;q=0.1, ko;q=0.9", "ko"),  # q-values, not order
        ("ko;q=0, en", "en"),  # q=0 is "not this one"
        ("KO", "ko"),
        ("fr, de", None),
        ("*", None),
        ("", None),
        (";;q=,,x;q=abc", None),
    ],
)
def test_accept_language_negotiation(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_url_beats_cookie_beats_accept_language() -> None:
    assert choose(["ko"], "en", "en") == Lang("ko", explicit=True)
    assert choose([], "ko", "en") == Lang("ko")
    assert choose([], None, "ko-KR") == Lang("ko")
    assert choose([], "xx", None) == ENGLISH
    assert choose(["fr"], None, "ko") == Lang("ko")  # unusable lang: the page refuses it


def test_links_keep_a_language_chosen_in_the_url() -> None:
    chosen = Lang("ko", explicit=True)
    assert chosen.link("/") == "/?lang=ko"
    assert chosen.link("/postings/p1") == "/postings/p1?lang=ko"
    assert chosen.link("/?q=x&lang=ko") == "/?q=x&lang=ko"
    assert Lang("ko").link("/") == "/"  # negotiated: the cookie or header says it again
    p = parse({"q": ["data"], "remote": ["remote"], "lang": ["KO-kr"]})
    assert p.lang == "ko"
    assert p.url(after="c1") == "/?q=data&remote=remote&after=c1&lang=ko"
    assert p.without("remote") == "/?q=data&lang=ko"
    assert switch_url("/", [("q", "데이터"), ("lang", "ko")], "en") == (
        "/?q=%EB%8D%B0%EC%9D%B4%ED%84%B0&lang=en"
    )
    assert Card.of(view(), lang=chosen).url == "/postings/p%2F1?lang=ko"


def test_an_unknown_language_is_a_bad_parameter_in_either_language() -> None:
    with pytest.raises(BadParam) as caught:
        parse({"lang": ["fr"]})
    assert caught.value.param == "lang"
    assert str(caught.value) == "lang: unknown lang value 'fr'; use one of en, ko"
    assert isinstance(caught.value.text, Text)
    assert KOREAN.text(caught.value.text) == (
        "lang 값 'fr'은(는) 알 수 없는 값입니다. 다음 중 하나를 쓰세요: en, ko"
    )


def test_view_models_in_korean() -> None:
    card = Card.of(view(), lang=KOREAN)
    assert card.facts == ("사무실 근무", "파트타임", "경력 무관", "영어 수준: 영어 불필요")
    assert card.posted == "2026년 10월 1일"
    assert experience_text(2, 5, KOREAN) == "경력 2\u20135년"
    assert experience_text(1, 1, KOREAN) == "경력 1년"
    assert Card.of(view()).posted == "1 Oct 2026"


def _render(name: str, lang: Lang, **context: Any) -> str:
    engine = template_config().instance
    assert engine is not None
    base = {
        "assets": {"icon.svg": "/i.svg", "app.css": "/a.css", "app.js": "/a.js"},
        "lang": lang,
        "switch": [],
        "home_url": lang.link("/"),
    }
    return engine.get_template(name).render(**base, **context)


def test_error_page_in_korean_escapes_what_the_visitor_typed() -> None:
    html = _render(
        "error.html",
        Lang("ko", explicit=True),
        title="이 검색은 실행할 수 없습니다",
        message="<script>",
        param="exp_min",
        back="/?q=x&lang=ko",
        reference=None,
        detail=None,
    )
    assert '<html lang="ko">' in html
    assert "매개변수 <strong>exp_min</strong>의 값을 사용할 수 없습니다: &lt;script&gt;" in html
    assert '<a href="/?q=x&amp;lang=ko">이 값을 빼고 검색</a>' in html
    assert '<a href="/?lang=ko">새로 검색</a>' in html


def test_search_page_has_no_english_left_in_korean() -> None:
    p = SearchParams(q="데이터", exp_min=2, remote=("REMOTE",), lang="ko")
    chosen = Lang("ko", explicit=True)
    html = _render(
        "search.html",
        chosen,
        p=p,
        error=None,
        count=1234,
        cards=[Card.of(view(posted_at=datetime(2026, 11, 27, tzinfo=UTC)), 0.5, chosen)],
        options=FilterOptions.of(None, (), ("REMOTE",), (), chosen),
        chips=[],
        next_url=p.url(after="c"),
        first_url=p.url(),
        clear_url="/?q=x&lang=ko",
        poll_url="/web/count",
    ).replace("JobStream", "")
    assert "필터에 맞는 채용 공고 <strong>1,234</strong>건, 관련도순." in html
    assert 'data-one="새 채용 공고 {n}건이 올라왔습니다: 보기"' in html
    assert '<input type="hidden" name="lang" value="ko">' in html
    text = re.sub(r"<[^>]+>|&\w+;", " ", html)
    posting = {"Nurse", "Clinic", "care", "One", "Two", "Three", "Four", "word"}  # its data
    names = {"Kafka", "GraphQL", "API", "ISO"}
    words = set(re.findall(r"[A-Za-z]{3,}", text)) - posting - names
    assert words == set(), f"untranslated: {sorted(words)}"
