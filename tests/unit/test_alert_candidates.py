"""The matcher's in-memory candidate index (streams/alerts/candidates.py) against a
reference written here: whatever the rows and postings, every pair the reference accepts
is proposed (the index may propose more; SQL decides those)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.alerts.candidates import CandidateIndex, Posting

DIM = 8
COUNTRIES = ["KR", "DE", None]
REMOTE = ["REMOTE", "HYBRID", "ONSITE"]
SKILLS = ["python", "go", "sql"]
CITIES = [None, "Seoul", "berlin", "münchen", "Mu\u0308nchen"]
LEXEMES = ["python", "rust", "data", "engin", "backend"]


def vector(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


@st.composite
def rows(draw: st.DrawFn, n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out = []
    for i in range(n):
        mode = draw(st.sampled_from(["HYBRID", "SEMANTIC", "KEYWORD"]))
        query = draw(st.sampled_from(["", "q"]))
        spelling = st.lists(st.sampled_from(LEXEMES), min_size=1, max_size=2, unique=True)
        units = draw(st.lists(st.lists(spelling, min_size=1, max_size=2), max_size=2))
        common = [set.intersection(*(set(x) for x in unit)) for unit in units]
        lexemes = sorted(set().union(*common)) if units else []
        lo = draw(st.one_of(st.none(), st.integers(0, 6)))
        out.append(
            {
                "id": f"s{i}",
                "deleted": draw(st.booleans()) and i % 5 == 0,
                "mode": mode,
                "query": query,
                "min_score": draw(st.floats(-0.2, 0.9)),
                "embedding": vector(rng),
                "embedding_model": draw(st.sampled_from(["m1", "m2"])),
                "lexemes": lexemes,
                "anchor": lexemes[0] if lexemes else None,
                "units": units,
                "lexical_query": " & ".join(
                    "( " + " | ".join(" <-> ".join(f"'{w}'" for w in x) for x in unit) + " )"
                    for unit in units
                )
                or None,
                "skills_all": draw(st.lists(st.sampled_from(SKILLS), max_size=1)),
                "skills_any": draw(st.lists(st.sampled_from(SKILLS), max_size=2, unique=True)),
                "country_code": draw(st.sampled_from(COUNTRIES)),
                "city": draw(st.sampled_from(CITIES)),
                "remote_modes": draw(st.lists(st.sampled_from(REMOTE), max_size=2, unique=True)),
                "english_levels": [],
                "employment_types": [],
                "experience_min_years": lo,
                "experience_max_years": None if lo is None else lo + 3,
                "salary_min": draw(st.one_of(st.none(), st.sampled_from([50_000, 90_000]))),
                "currency": draw(st.sampled_from([None, "EUR", "KRW"])),
                "after": draw(st.one_of(st.none(), st.sampled_from([100.0, 200.0]))),
            }
        )
    return out


@st.composite
def postings(draw: st.DrawFn, n: int) -> list[Posting]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out = []
    for i in range(n):
        lo = draw(st.one_of(st.none(), st.integers(0, 8)))
        salary = draw(st.one_of(st.none(), st.sampled_from([40_000, 60_000, 120_000])))
        out.append(
            Posting(
                id=f"p{i}",
                embedding=vector(rng),
                model=draw(st.sampled_from(["m1", "m2", None])),
                lexemes=frozenset(draw(st.lists(st.sampled_from(LEXEMES), unique=True))),
                country=draw(st.sampled_from([*COUNTRIES, "FR"])),
                city=draw(st.sampled_from([*CITIES, "BERLIN", "Besançon"])),
                remote=draw(st.sampled_from([*REMOTE, None])),
                english=None,
                employment=None,
                experience_min=math.nan if lo is None else lo,
                experience_max=math.nan if lo is None else lo + 2,
                salary_max=math.nan if salary is None else salary,
                currency=draw(st.sampled_from([None, "EUR", "KRW"])),
                posted=draw(st.sampled_from([50.0, 150.0, 250.0])),
                skills=frozenset(draw(st.lists(st.sampled_from(SKILLS), unique=True))),
            )
        )
    return out


def accepts(s: dict[str, Any], p: Posting) -> bool:
    """The predicate of streams/alerts/sql.py for the columns this test draws."""
    if s["deleted"]:
        return False
    if s["country_code"] is not None and p.country != s["country_code"]:
        return False
    if s["city"] is not None and (p.city is None or p.city.lower() != s["city"].lower()):
        return False
    if s["remote_modes"] and p.remote not in s["remote_modes"]:
        return False
    if s["experience_min_years"] is not None and not p.experience_max >= s["experience_min_years"]:
        return False
    if s["experience_max_years"] is not None and not p.experience_min <= s["experience_max_years"]:
        return False
    if s["salary_min"] is not None and not p.salary_max >= s["salary_min"]:
        return False
    if s["currency"] is not None and p.currency != s["currency"]:
        return False
    if s["after"] is not None and not p.posted > s["after"]:
        return False
    if not set(s["skills_all"]) <= p.skills:
        return False
    if s["skills_any"] and not set(s["skills_any"]) & p.skills:
        return False
    if not s["query"]:
        return True
    lexical = (
        s["mode"] != "SEMANTIC"
        and bool(s["units"])
        and all(any(set(x) <= p.lexemes for x in unit) for unit in s["units"])
    )
    assert p.embedding is not None
    semantic = (
        s["mode"] != "KEYWORD"
        and p.model == s["embedding_model"]
        and float(p.embedding @ s["embedding"]) >= s["min_score"]
    )
    return lexical or semantic


@settings(max_examples=60, deadline=None)
@given(rows(40), postings(30))
def test_every_accepted_pair_is_proposed(saved: list[dict[str, Any]], live: list[Posting]) -> None:
    index = CandidateIndex(DIM, capacity=4)  # grows while loading
    for row in saved:
        index.upsert(row)
    proposed = set(index.candidates(live))
    wanted = {(p.id, s["id"]) for s in saved for p in live if accepts(s, p)}
    assert wanted <= proposed
    assert all(sid != "" for _, sid in proposed)


def test_updates_and_removals_take_effect() -> None:
    rng = np.random.default_rng(1)
    v = vector(rng)
    base: dict[str, Any] = {
        "id": "s1", "deleted": False, "mode": "SEMANTIC", "query": "q", "min_score": 0.9,
        "embedding": v, "embedding_model": "m", "lexemes": [], "anchor": None,
        "lexical_query": None, "skills_all": [], "skills_any": [],
        "country_code": "KR", "city": None, "remote_modes": [], "english_levels": [],
        "employment_types": [],
        "experience_min_years": None, "experience_max_years": None, "salary_min": None,
        "currency": None, "after": None,
    }  # fmt: skip
    posting = Posting(
        "p1", v, "m", frozenset(), "KR", None, None, None, None, *[math.nan] * 3, None, 0
    )
    index = CandidateIndex(DIM)
    index.upsert(base)
    assert index.candidates([posting]) == [("p1", "s1")]
    index.upsert({**base, "country_code": "DE"})  # the new filter replaces the old
    assert index.candidates([posting]) == []
    index.upsert({**base, "deleted": True})
    assert len(index) == 0
    assert index.candidates([posting]) == []
    index.upsert({**base, "mode": "KEYWORD", "lexemes": ["rust"], "anchor": "rust"})
    assert index.candidates([posting]) == []
    rusty = Posting(
        "p2", v, "m", frozenset({"rust"}), "KR", None, None, None, None, *[math.nan] * 3, None, 0
    )
    assert index.candidates([posting, rusty]) == [("p2", "s1")]


def test_units_read_what_postgres_prints_and_give_up_on_the_rest() -> None:
    from streams.alerts.units import holds, units_of

    ml = units_of("( 'machin' <-> 'learn' | 'ml' ) & 'engin'")
    assert ml == ((frozenset({"machin", "learn"}), frozenset({"ml"})),)
    assert holds(ml, frozenset({"ml", "engin"}))
    assert not holds(ml, frozenset({"machin", "engin"}))
    assert units_of("'senior' & 'engin'") is None  # no spellings: lexemes say it all
    assert units_of("'it''s' | 'x'") == ((frozenset({"it's"}), frozenset({"x"})),)
    for unknown in ("'a':* | 'b'", "!'a' | 'b'", "( 'a' <-> 'b' ) | 'c'", "", None):
        assert units_of(unknown) is None
