"""The posting generator: valid for the domain, deterministic, diverse and coherent."""

from __future__ import annotations

import itertools
import json
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.generator import (
    CITIES,
    COUNTRIES,
    FAMILIES,
    LEVELS,
    REFERENCE_NOW,
    ROLE_FAMILIES,
    embedding_text,
    family_of,
    generate,
    generate_one,
    posting_id,
    seniority_of,
)
from gateway.generator.catalog import COMPANIES, SECTOR_ABOUT, SECTOR_MISSION
from schemas.domain import COUNTRY_CODES, CURRENCY_CODES, Posting, parse_json, to_json
from schemas.domain.limits import ID_PATTERN

DIM = 384
SAMPLE = 2_000
_UNIT = [1.0] + [0.0] * (DIM - 1)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return list(generate(SAMPLE, seed=7))


def _with_embedding(posting: dict[str, Any]) -> dict[str, Any]:
    return posting | {"embedding": _UNIT, "embedding_model": "test"}


# --- validity -----------------------------------------------------------------------------


def test_every_posting_passes_domain_validation(sample: list[dict[str, Any]]) -> None:
    for posting in sample:
        event = parse_json(_with_embedding(posting), dim=DIM, now=REFERENCE_NOW)
        assert isinstance(event, Posting)
        # Already canonical: the domain's normalisation changes nothing.
        assert to_json(event) == _with_embedding(posting)


def test_shape_ids_codes_and_ranges(sample: list[dict[str, Any]]) -> None:
    keys = {
        "id",
        "version",
        "title",
        "company",
        "location",
        "remote_mode",
        "employment_type",
        "experience_min_years",
        "experience_max_years",
        "english_level",
        "skills",
        "salary",
        "description",
        "posted_at",
    }
    for index, posting in enumerate(sample):
        assert set(posting) == keys
        assert posting["id"] == f"job-7-{index:07d}" == posting_id(7, index)
        assert ID_PATTERN.fullmatch(posting["id"])
        assert posting["version"] == 1
        assert posting["location"]["country_code"] in COUNTRY_CODES
        assert 0 <= posting["experience_min_years"] <= posting["experience_max_years"] <= 50
        assert posting["posted_at"].endswith("Z")
        posted = datetime.fromisoformat(posting["posted_at"])
        assert REFERENCE_NOW - timedelta(days=90) <= posted <= REFERENCE_NOW
        salary = posting["salary"]
        if salary is not None:
            assert salary["currency"] in CURRENCY_CODES
            assert 0 < salary["min"] < salary["max"]
        sentences = _SENTENCE_END.split(posting["description"])
        assert 3 <= len(sentences) <= 8, posting["description"]
        assert 2 <= len(posting["skills"]) <= 9
        json.dumps(posting, allow_nan=False)  # JSON-ready as is


def test_catalog_codes_are_iso_and_cover_enough_places() -> None:
    assert {c.code for c in COUNTRIES} <= COUNTRY_CODES
    assert {c.currency for c in COUNTRIES} <= CURRENCY_CODES
    assert {city.country for city in CITIES} <= {c.code for c in COUNTRIES}
    assert len(CITIES) >= 40
    assert len({city.country for city in CITIES}) >= 15
    assert len(FAMILIES) >= 30
    assert len(ROLE_FAMILIES) == len(FAMILIES)


def test_catalog_sectors_have_companies_and_wording() -> None:
    used = {sector for family in FAMILIES for sector in family.sectors}
    assert used <= set(COMPANIES) == set(SECTOR_ABOUT) == set(SECTOR_MISSION)
    names = [name for sector in COMPANIES for name in COMPANIES[sector]]
    assert len(set(names)) >= 300
    assert all("." not in name for name in names)  # keeps sentence splitting honest


def test_catalog_skills_are_canonical_and_unique_per_family() -> None:
    for family in FAMILIES:
        listed = family.core + family.extra
        canonical = [" ".join(s.lower().split()) for s in listed]
        assert len(set(canonical)) == len(canonical), family.key
        assert all(0 < len(s) <= 64 for s in canonical)
        assert len(family.core) >= 2
        assert family.query


# --- determinism --------------------------------------------------------------------------


def test_same_seed_same_postings() -> None:
    assert list(generate(50, seed=3)) == list(generate(50, seed=3))
    assert list(generate(50, seed=3)) != list(generate(50, seed=4))


def test_a_slice_equals_the_same_items_of_a_longer_run() -> None:
    assert list(generate(10, start=5)) == list(generate(15))[5:]
    assert generate_one(12, seed=2) == next(generate(1, seed=2, start=12))


def test_independent_of_the_process() -> None:
    """String seeds are hashed with SHA-512, not the salted hash(): another interpreter
    (with another PYTHONHASHSEED) produces the very same postings."""
    code = (
        "import json; from gateway.generator import generate; "
        "print(json.dumps(list(generate(20, seed=11, start=100))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    assert json.loads(out) == list(generate(20, seed=11, start=100))


def test_default_now_is_fixed_and_now_moves_dates_only() -> None:
    later = REFERENCE_NOW + timedelta(days=30)
    a, b = generate_one(1), generate_one(1, now=later)
    shifted = datetime.fromisoformat(b["posted_at"]) - datetime.fromisoformat(a["posted_at"])
    assert shifted == timedelta(days=30)
    assert a | {"posted_at": ""} == b | {"posted_at": ""}
    other_zone = later.astimezone(timezone(timedelta(hours=5)))
    assert generate_one(1, now=other_zone) == b


def test_bad_arguments_are_refused_eagerly() -> None:
    with pytest.raises(ValueError, match="n and start"):
        generate(-1)
    with pytest.raises(ValueError, match="n and start"):
        generate(1, start=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(1, now=datetime(2026, 1, 1))  # naive on purpose
    assert list(generate(0)) == []


# --- diversity ----------------------------------------------------------------------------


def test_diversity(sample: list[dict[str, Any]]) -> None:
    families = Counter(family_of(p) for p in sample)
    assert len(families) >= 30
    assert len({p["title"] for p in sample}) >= 300
    assert len({p["company"] for p in sample}) >= 200
    assert len({p["location"]["city"] for p in sample}) >= 40
    assert len({p["location"]["country_code"] for p in sample}) >= 15
    assert len({p["description"] for p in sample}) == SAMPLE
    for field, values in {
        "remote_mode": {"ONSITE", "HYBRID", "REMOTE"},
        "employment_type": {"FULL_TIME", "PART_TIME", "CONTRACT", "INTERNSHIP"},
        "english_level": {"NONE", "BASIC", "CONVERSATIONAL", "BUSINESS", "FLUENT", "NATIVE"},
    }.items():
        assert {p[field] for p in sample} == values, field
    without_salary = sum(p["salary"] is None for p in sample) / SAMPLE
    assert 0.15 <= without_salary <= 0.25
    lengths = Counter(len(_SENTENCE_END.split(p["description"])) for p in sample)
    assert len(lengths) >= 5  # descriptions really vary in length


def test_embedding_text_is_short_and_leads_with_title_and_skills(
    sample: list[dict[str, Any]],
) -> None:
    for posting in sample[:500]:
        text = embedding_text(posting)
        assert len(text.split()) <= 200
        assert "(m/f/d)" not in text
        assert text.startswith(posting["title"].replace(" (m/f/d)", ""))
        assert all(skill in text for skill in posting["skills"])
        assert posting["company"] not in text.split(". ")[0]
    long = sample[0] | {"description": "word " * 1000}
    assert len(embedding_text(long).split()) == 200


# --- coherence ----------------------------------------------------------------------------


def test_skills_belong_to_the_family(sample: list[dict[str, Any]]) -> None:
    for posting in sample:
        family = ROLE_FAMILIES[family_of(posting)]
        assert set(posting["skills"]) <= family.skills, (posting["title"], posting["skills"])
        core = {" ".join(s.lower().split()) for s in family.core}
        assert len(core & set(posting["skills"])) >= 2


def test_experience_increases_with_seniority(sample: list[dict[str, Any]]) -> None:
    by_level: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for posting in sample:
        by_level[seniority_of(posting)].append(posting)
    assert set(by_level) == set(LEVELS)
    for key in ("experience_min_years", "experience_max_years"):
        means = [statistics.mean(p[key] for p in by_level[level]) for level in LEVELS]
        assert means == sorted(means), (key, means)
        assert len(set(means)) == len(means), (key, means)
    # From mid level up, every minimum is above every minimum of the level below.
    for lower, higher in itertools.pairwise(LEVELS[2:]):
        assert max(p["experience_min_years"] for p in by_level[lower]) < min(
            p["experience_min_years"] for p in by_level[higher]
        )
    for posting in by_level["intern"]:
        assert posting["experience_min_years"] == 0
        assert posting["experience_max_years"] <= 1


def test_interns_are_mostly_internships_and_paid_less(sample: list[dict[str, Any]]) -> None:
    more = list(generate(8_000, seed=8))
    interns = [p for p in more if seniority_of(p) == "intern"]
    assert sum(p["employment_type"] == "INTERNSHIP" for p in interns) / len(interns) > 0.8
    assert all(seniority_of(p) == "intern" for p in more if p["employment_type"] == "INTERNSHIP")
    pay: dict[tuple[str, str, str], list[dict[str, int]]] = defaultdict(list)
    for posting in more:
        if posting["salary"] is not None:
            key = (family_of(posting), posting["location"]["country_code"], seniority_of(posting))
            pay[key].append(posting["salary"])
    compared = 0
    for (family, country, level), salaries in pay.items():
        seniors = pay.get((family, country, "senior"))
        if level == "intern" and seniors:
            assert max(s["max"] for s in salaries) < min(s["min"] for s in seniors)
            compared += 1
    assert compared >= 20
    # Within one currency (several countries share EUR), the typical intern earns less.
    by_currency: dict[tuple[str, str], list[int]] = defaultdict(list)
    for posting in more:
        if posting["salary"] is not None and seniority_of(posting) in ("intern", "senior"):
            by_currency[(posting["salary"]["currency"], seniority_of(posting))].append(
                posting["salary"]["min"]
            )
    for (currency, level), mins in by_currency.items():
        if level == "intern" and (currency, "senior") in by_currency:
            assert statistics.median(mins) < statistics.median(by_currency[(currency, "senior")])


def test_english_follows_country_and_seniority(sample: list[dict[str, Any]]) -> None:
    levels = ("NONE", "BASIC", "CONVERSATIONAL", "BUSINESS", "FLUENT", "NATIVE")
    english_speaking = {c.code for c in COUNTRIES if c.english == 6}
    rank: dict[str, list[int]] = defaultdict(list)
    for posting in sample:
        value = levels.index(posting["english_level"])
        if posting["location"]["country_code"] in english_speaking:
            assert posting["english_level"] in ("FLUENT", "NATIVE")
        else:
            assert posting["english_level"] != "NATIVE"
            rank[seniority_of(posting)].append(value)
    assert statistics.mean(rank["principal"]) > statistics.mean(rank["junior"])


def test_work_mode_fits_the_family(sample: list[dict[str, Any]]) -> None:
    modes: dict[str, Counter[str]] = defaultdict(Counter)
    for posting in sample:
        modes[family_of(posting)][posting["remote_mode"]] += 1
    assert modes["registered_nurse"]["REMOTE"] == 0
    assert modes["teacher"]["REMOTE"] == 0
    assert modes["backend_engineer"]["REMOTE"] > 0


def test_titles_map_back_to_family_and_level() -> None:
    posting = generate_one(0)
    assert family_of(posting) in ROLE_FAMILIES
    assert seniority_of(posting) in LEVELS
    with pytest.raises(ValueError, match="not one the generator produces"):
        family_of(posting | {"title": "Astronaut"})


# --- speed --------------------------------------------------------------------------------


def test_generates_ten_thousand_quickly() -> None:
    started = time.perf_counter()
    count = sum(1 for _ in generate(10_000, seed=1))
    elapsed = time.perf_counter() - started
    assert count == 10_000
    assert elapsed < 5.0, f"10,000 postings took {elapsed:.2f} s"
