"""api.search without a database: filter canonical form and validation, cursors, models."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from api.search import (
    Facets,
    InvalidCursor,
    InvalidFilter,
    InvalidQuery,
    PostingFilter,
    PostingView,
    SearchHit,
    SearchPage,
)
from api.search.cursor import Keyset, decode_cursor, encode_cursor, filter_fingerprint
from api.search.models import experience_bucket
from api.search.sql import exact_search, index_search, where
from api.search.vectors import to_pgvector_text


def test_cache_key_is_canonical() -> None:
    a = PostingFilter(
        english_levels=("FLUENT", "business"),
        skills_all=("Python", " kafka "),
        country_code="de",
        city="  Berlin ",
        currency="eur",
        posted_after=datetime(2025, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
    )
    b = PostingFilter(
        english_levels=["BUSINESS", "FLUENT", "FLUENT"],  # type: ignore[arg-type]
        skills_all=("KAFKA", "python", "python"),
        country_code="DE",
        city="berlin",
        currency="EUR",
        posted_after=datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert a.cache_key() == b.cache_key()
    assert a.normalized() == b.normalized()
    assert a.normalized().english_levels == ("BUSINESS", "FLUENT")  # enum order
    assert PostingFilter().cache_key() != PostingFilter(skills_any=("python",)).cache_key()
    assert PostingFilter(skills_all=("go",)).cache_key() != (
        PostingFilter(skills_any=("go",)).cache_key()
    )
    assert PostingFilter().is_empty
    assert not PostingFilter(city="x").is_empty


def test_lone_string_is_one_value_not_characters() -> None:
    f = PostingFilter(remote_modes="REMOTE")  # type: ignore[arg-type]
    assert f.normalized().remote_modes == ("REMOTE",)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"experience_min_years": -1}, "experience_min_years"),
        ({"experience_min_years": True}, "experience_min_years"),
        ({"experience_max_years": 1.5}, "experience_max_years"),
        ({"experience_min_years": 3, "experience_max_years": 2}, "experience_min_years"),
        ({"english_levels": ("good",)}, "english_levels"),
        ({"english_levels": (3,)}, "english_levels"),
        ({"remote_modes": 5}, "remote_modes"),
        ({"employment_types": ("",)}, "employment_types"),
        ({"country_code": "ZZ"}, "country_code"),
        ({"city": ""}, "city"),
        ({"city": "x" * 101}, "city"),
        ({"skills_any": tuple(str(i) for i in range(51))}, "skills_any"),
        ({"skills_all": ("a\x00b",)}, "skills_all"),
        ({"skills_all": ("x" * 65,)}, "skills_all"),
        ({"salary_min": 10**13}, "salary_min"),
        ({"currency": "XAU"}, "currency"),
        ({"posted_after": "2025-01-01"}, "posted_after"),
    ],
)
def test_invalid_filter_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidFilter) as err:
        PostingFilter(**kwargs).validate()  # type: ignore[arg-type]
    assert err.value.field == field
    assert field in str(err.value)


def test_where_uses_parameters_not_literals() -> None:
    from api.search.sql import Params

    params = Params("vec")
    f = PostingFilter(city="O'Brien; DROP TABLE postings", skills_any=("x",)).normalized()
    clause = where(f, params)
    assert "DROP" not in clause
    assert params.values[1:] == ["o'brien; drop table postings", ["x"]]


def test_index_and_exact_statements_differ_structurally() -> None:
    f = PostingFilter().normalized()
    k = Keyset(0.25, "p1")
    idx, idx_args = index_search(f, "[1,2]", k, 11, 22)
    ex, ex_args = exact_search(f, "[1,2]", k, 11, exclude="p9")
    assert "MATERIALIZED" in idx
    assert "distance + 0" in idx
    assert "OFFSET 0" in ex
    assert idx_args == ["[1,2]", 0.25, "p1", 22, 11]
    assert ex_args == ["[1,2]", "p9", 0.25, "p1", 11]


def test_cursor_round_trip_and_checks() -> None:
    fp = filter_fingerprint(PostingFilter(city="Berlin").cache_key())
    for distance in (0.0, 1e-9, 0.123456789012345, 1.9999999):
        key = Keyset(distance, "job-1:a.b")
        assert decode_cursor(encode_cursor(key, fp), fp) == key
    cursor = encode_cursor(Keyset(0.5, "p1"), fp)
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=="))
    for change in ({"v": 2}, {"i": "p2"}, {"d": 0.6}, {"d": float("nan")}, {"d": 5.0}, {"x": 1}):
        raw = json.dumps({**payload, **change}).encode()
        with pytest.raises(InvalidCursor):
            decode_cursor(base64.urlsafe_b64encode(raw).decode(), fp)
    with pytest.raises(InvalidCursor, match="other filters"):
        decode_cursor(cursor, filter_fingerprint(PostingFilter().cache_key()))
    for bad in ("", "@@@", "bnVsbA", base64.urlsafe_b64encode(b"[1]").decode()):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad, fp)


def test_vector_text_round_trips_float32_exactly() -> None:
    v = np.random.default_rng(3).normal(size=384).astype(np.float32)
    text = to_pgvector_text(v, 384)
    back = np.array([float(x) for x in text[1:-1].split(",")], dtype=np.float32)
    assert np.array_equal(back, v)
    for bad in (np.zeros(384), np.ones(383), np.full(384, np.inf), "abc"):
        with pytest.raises(InvalidQuery):
            to_pgvector_text(bad, 384)  # type: ignore[arg-type]


def test_models_json_round_trip() -> None:
    view = PostingView(
        id="p1",
        version=3,
        title="Engineer",
        company="ACME",
        city="",
        country_code="DE",
        remote_mode="REMOTE",
        employment_type="FULL_TIME",
        experience_min_years=2,
        experience_max_years=5,
        english_level="FLUENT",
        skills=("python", "sql"),
        salary_min=None,
        salary_max=None,
        salary_currency=None,
        description="",
        posted_at=datetime(2025, 5, 1, 12, 30, 0, 123456, tzinfo=UTC),
        embedding_model="m",
    )
    assert PostingView.from_dict(json.loads(json.dumps(view.to_dict()))) == view
    page = SearchPage((SearchHit("p1", 0.9), SearchHit("p2", 0.8)), "c", True)
    assert SearchPage.from_dict(json.loads(json.dumps(page.to_dict()))) == page
    facets = Facets.empty()
    facets.english_level["FLUENT"] = 4
    assert Facets.from_dict(json.loads(json.dumps(facets.to_dict()))) == facets
    assert list(facets.experience) == ["0-1", "2-4", "5-9", "10+"]


@pytest.mark.parametrize(
    ("years", "bucket"), [(0, "0-1"), (1, "0-1"), (2, "2-4"), (4, "2-4"), (9, "5-9"), (50, "10+")]
)
def test_experience_buckets(years: int, bucket: str) -> None:
    assert experience_bucket(years) == bucket
