"""api.web.params and api.web.views without a server: URL parsing, canonical URLs, cards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.search import PostingView
from api.web.params import BadParam, SearchParams, parse
from api.web.views import Card, Detail, experience_text, salary_text, snippet


def q(**params: str | list[str]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in params.items()}


def test_parse_normalises_and_round_trips() -> None:
    p = parse(
        q(
            q="  python dev ",
            exp_min="2",
            english=["Fluent", "native"],
            remote="remote,hybrid",
            type="part-time",
            country="de",
            skills="Python, django,python",
            utm_source="x",
        )
    )
    assert p.q == "python dev"
    assert (p.exp_min, p.exp_max) == (2, None)
    assert p.english == ("FLUENT", "NATIVE")
    assert p.remote == ("HYBRID", "REMOTE")
    assert p.types == ("PART_TIME",)
    assert p.country == "DE"
    assert p.skills == ("Python", "django")
    assert parse({}) == SearchParams()
    grouped: dict[str, list[str]] = {}
    for key, value in p.pairs():
        grouped.setdefault(key, []).append(value)
    again = parse(grouped)
    assert again == p
    assert again.to_filter().cache_key() == p.to_filter().cache_key()


def test_empty_fields_mean_any() -> None:
    assert parse(q(q="", exp_min="", english="", country=" ", skills=" , ")) == SearchParams()


@pytest.mark.parametrize(
    ("params", "name"),
    [
        (q(remote="moon"), "remote"),
        (q(exp_min="-3"), "exp_min"),
        (q(exp_max="1.5"), "exp_max"),
        (q(exp_min="9", exp_max="3"), "exp_min"),
        (q(country="XX"), "country"),
        (q(city="x" * 500), "city"),
        (q(q=["a", "b"]), "q"),
        (q(after="y" * 600), "after"),
    ],
)
def test_bad_values_name_the_parameter(params: dict[str, list[str]], name: str) -> None:
    with pytest.raises(BadParam) as info:
        parse(params)
    assert info.value.param == name


def test_without_removes_one_value_and_the_page() -> None:
    p = SearchParams(q="x", remote=("REMOTE", "HYBRID"), country="DE", after="c")
    assert p.without("remote", "REMOTE") == "/?q=x&remote=hybrid&country=DE"
    assert p.without("country") == "/?q=x&remote=remote&remote=hybrid"
    assert p.url(after="n1:abc") == "/?q=x&remote=remote&remote=hybrid&country=DE&after=n1%3Aabc"


def view(**changes: object) -> PostingView:
    base: dict[str, object] = {
        "id": "p/1",
        "version": 3,
        "title": "Nurse",
        "company": "Clinic",
        "city": "",
        "country_code": "DE",
        "remote_mode": "ONSITE",
        "employment_type": "PART_TIME",
        "experience_min_years": 0,
        "experience_max_years": 0,
        "english_level": "NONE",
        "skills": ("care",),
        "salary_min": None,
        "salary_max": None,
        "salary_currency": None,
        "description": "One. Two! Three? Four. " + "word " * 100,
        "posted_at": datetime(2026, 10, 1, tzinfo=UTC),
        "embedding_model": "m",
    }
    base.update(changes)
    return PostingView(**base)  # type: ignore[arg-type]


def test_cards_and_details_format_every_fact() -> None:
    card = Card.of(view())
    assert card.url == "/postings/p%2F1"
    assert card.location == "DE"
    assert card.facts == (
        "On site",
        "Part time",
        "No experience required",
        "English: No English needed",
    )
    assert card.salary is None
    assert card.snippet.endswith("…")
    assert len(card.snippet) <= 221
    detail = Detail.of(view())
    assert detail.paragraphs[0] == "One. Two! Three?"
    assert len(detail.meta_description) <= 156
    assert experience_text(2, 5) == "2\u20135 years of experience"
    assert experience_text(1, 1) == "1 year of experience"
    assert salary_text(1000, 2000, "EUR") == "1,000\u20132,000 EUR"
    assert snippet("short") == "short"
