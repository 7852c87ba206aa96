"""Unit tests of the posting domain model: every rule at its boundaries, and the conversions."""

from __future__ import annotations

import copy
import dataclasses
import json
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from schemas.domain import limits as L
from schemas.jobstream.v1 import ingest_pb2, posting_pb2
from schemas.posting import (
    COUNTRY_CODES,
    CURRENCY_CODES,
    EmploymentType,
    EnglishLevel,
    InvalidPosting,
    KeyMismatch,
    Location,
    PoisonRecord,
    Posting,
    PostingDeleted,
    RejectReason,
    RemoteMode,
    Salary,
    UndecodableRecord,
    decode_event,
    encode_event,
    from_json,
    pack_embedding,
    parse_json,
    to_json,
    to_proto,
    unpack_embedding,
    validate_embedding,
    validate_event,
)

DIM = 384
R = RejectReason


def vector(dim: int = DIM, seed: int = 7) -> list[float]:
    """A unit vector (validation keeps those bit for bit)."""
    values = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return [float(x) for x in values / np.linalg.norm(values)]


def valid(**changes: Any) -> dict[str, Any]:
    """A valid NDJSON posting; keyword arguments replace (or, with None, null) keys."""
    data: dict[str, Any] = {
        "id": "acme:job-42",
        "version": 3,
        "title": "Senior Backend Engineer",
        "company": "ACME GmbH",
        "location": {"city": "Berlin", "country_code": "DE"},
        "remote_mode": "HYBRID",
        "employment_type": "FULL_TIME",
        "experience_min_years": 3,
        "experience_max_years": 7,
        "english_level": "BUSINESS",
        "skills": ["python", "postgresql", "kafka"],
        "salary": {"min": 70_000, "max": 90_000, "currency": "EUR"},
        "description": "Build the ingest pipeline.\n\n- Kafka\n- Postgres",
        "posted_at": "2026-11-20T09:30:00Z",
        "embedding": vector(),
        "embedding_model": "all-MiniLM-L6-v2",
    }
    data.update(changes)
    return data


def parse(data: object, dim: int = DIM, **kwargs: Any) -> Posting | PostingDeleted:
    return parse_json(data, dim=dim, **kwargs)


def live(data: object, dim: int = DIM) -> Posting:
    event = parse(data, dim)
    assert isinstance(event, Posting)
    return event


def rejects(data: object, reason: RejectReason, field: str, *fragments: str) -> InvalidPosting:
    with pytest.raises(InvalidPosting) as info:
        parse(data)
    exc = info.value
    assert (exc.reason, exc.field) == (reason, field), repr(exc)
    for fragment in fragments:
        assert fragment in str(exc), repr(exc)
    assert field.split("[")[0].split(".")[-1] in str(exc) or field == "event"
    return exc


def proto(**changes: Any) -> posting_pb2.PostingEvent:
    return from_json(valid(**changes))


def rejects_proto(
    msg: posting_pb2.PostingEvent, reason: RejectReason, field: str, *fragments: str
) -> None:
    with pytest.raises(InvalidPosting) as info:
        validate_event(msg, dim=DIM)
    assert (info.value.reason, info.value.field) == (reason, field), repr(info.value)
    for fragment in fragments:
        assert fragment in str(info.value)


# --- contracts with the proto -------------------------------------------------------------


def test_reject_reason_mirrors_the_proto_enum() -> None:
    assert {r.name: r.value for r in RejectReason} == dict(ingest_pb2.RejectReason.items())


@pytest.mark.parametrize(
    ("domain", "wire"),
    [
        (RemoteMode, posting_pb2.RemoteMode),
        (EmploymentType, posting_pb2.EmploymentType),
        (EnglishLevel, posting_pb2.EnglishLevel),
    ],
)
def test_enums_mirror_the_proto_names_and_numbers(domain: Any, wire: Any) -> None:
    expected = {name: value for name, value in wire.items() if value != 0}
    assert {m.name: m.value for m in domain} == expected


def test_english_levels_are_ordered_by_value() -> None:
    assert [m.value for m in EnglishLevel] == sorted(m.value for m in EnglishLevel)
    assert EnglishLevel.NONE.value < EnglishLevel.NATIVE.value


def test_iso_lists_hold_real_codes_only() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"US", "GB", "DE", "JP", "BR", "AX", "SS"} <= COUNTRY_CODES
    assert not {"UK", "EU", "XK", "ZZ", "de"} & COUNTRY_CODES
    assert {"USD", "EUR", "JPY", "GBP", "CHF", "INR", "XOF", "ZWG", "XCG"} <= CURRENCY_CODES
    assert not {"XXX", "XTS", "XAU", "XDR", "BTC", "EURO", "usd"} & CURRENCY_CODES


# --- a valid posting ----------------------------------------------------------------------


def test_valid_posting_is_parsed_into_domain_types() -> None:
    posting = live(valid())
    assert posting.id == "acme:job-42"
    assert posting.version == 3
    assert posting.location == Location("Berlin", "DE")
    assert posting.remote_mode is RemoteMode.HYBRID
    assert posting.employment_type is EmploymentType.FULL_TIME
    assert posting.english_level is EnglishLevel.BUSINESS
    assert posting.skills == ("python", "postgresql", "kafka")
    assert posting.salary == Salary(70_000, 90_000, "EUR")
    assert posting.posted_at == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    assert posting.posted_at.tzinfo is UTC
    assert posting.embedding.dtype == np.float32
    assert posting.embedding.shape == (DIM,)
    assert posting.embedding.tolist() == valid()["embedding"]
    assert posting.embedding_bytes == pack_embedding(np.array(valid()["embedding"]))
    assert not posting.deleted
    assert posting.produced_at is None
    assert posting.producer_id == ""


def test_posting_is_frozen_hashable_and_its_vector_read_only() -> None:
    posting = live(valid())
    with pytest.raises(dataclasses.FrozenInstanceError):
        posting.title = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        posting.embedding[0] = 1.0
    again = live(valid())
    assert posting == again
    assert hash(posting) == hash(again)
    assert len({posting, again}) == 1
    assert posting != live(valid(embedding=vector(seed=8)))


def test_direct_construction_normalises_vector_and_time() -> None:
    base = live(valid())
    cet = timezone(timedelta(hours=1))
    source = np.array(valid()["embedding"], dtype=np.float64)
    built = dataclasses.replace(
        base,
        embedding=source,  # type: ignore[arg-type]  # converted to float32 at runtime
        posted_at=datetime(2026, 11, 20, 10, 30, tzinfo=cet),
    )
    assert built == base
    assert built.embedding.dtype == np.float32
    assert not built.embedding.flags.writeable
    assert source.flags.writeable  # the caller's array is untouched
    with pytest.raises(ValueError, match="timezone-aware"):
        dataclasses.replace(base, posted_at=datetime(2026, 11, 20))
    with pytest.raises(ValueError, match="1-D"):
        dataclasses.replace(base, embedding=np.ones((2, 2), dtype=np.float32))


def test_text_fields_are_trimmed_and_codes_upper_cased() -> None:
    posting = live(
        valid(
            title="  Data Engineer \n",
            company="\tACME ",
            location={"city": " Köln ", "country_code": " de"},
            salary={"min": 1, "max": 2, "currency": "eur"},
            description="  text\n",
            embedding_model=" m ",
        )
    )
    assert posting.title == "Data Engineer"
    assert posting.company == "ACME"
    assert posting.location == Location("Köln", "DE")
    assert posting.salary == Salary(1, 2, "EUR")
    assert posting.description == "text"
    assert posting.embedding_model == "m"


# --- id and version -----------------------------------------------------------------------


@pytest.mark.parametrize("good", ["a", "A" * L.ID_MAX_LEN, "AZaz09._:-", "job:2026.11-x_1"])
def test_valid_ids(good: str) -> None:
    assert parse(valid(id=good)).id == good


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("", "id is missing"),
        ("a" * (L.ID_MAX_LEN + 1), "too long: 129 characters (max 128)"),
        ("has space", "letters, digits"),
        ("a/b", "letters, digits"),
        ("café", "letters, digits"),
        ("abc\n", "letters, digits"),
    ],
)
def test_invalid_ids(bad: str, fragment: str) -> None:
    rejects(valid(id=bad), R.INVALID_ID, "id", fragment)


@pytest.mark.parametrize("bad", [123, None, ["a"], True])
def test_id_must_be_a_string(bad: object) -> None:
    data = valid(id=bad)
    if bad is None:
        rejects(data, R.INVALID_ID, "id", "id is missing")
    else:
        rejects(data, R.INVALID_ID, "id", "must be a string")


@pytest.mark.parametrize("good", [1, L.INT64_MAX, 5.0])
def test_valid_versions(good: int | float) -> None:
    assert parse(valid(version=good)).version == int(good)


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (0, "positive integer (got 0)"),
        (-1, "positive integer (got -1)"),
        (2**63, "must be between 1 and"),
        ("3", "must be an integer (got str '3')"),
        (True, "must be an integer (got bool"),
        (3.5, "must be an integer"),
        (float("nan"), "must be an integer"),
    ],
)
def test_invalid_versions(bad: object, fragment: str) -> None:
    rejects(valid(version=bad), R.INVALID_VERSION, "version", fragment)


def test_version_is_required() -> None:
    data = valid()
    del data["version"]
    rejects(data, R.INVALID_VERSION, "version", "got 0")


# --- required text fields -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"), [("title", L.TITLE_MAX_LEN), ("company", L.COMPANY_MAX_LEN)]
)
def test_required_text_boundaries(field: str, limit: int) -> None:
    assert getattr(live(valid(**{field: "x" * limit})), field) == "x" * limit
    assert getattr(live(valid(**{field: "é" * limit})), field) == "é" * limit  # code points
    rejects(
        valid(**{field: "x" * (limit + 1)}),
        R.TOO_LONG,
        field,
        f"{field} is too long: {limit + 1} characters (max {limit})",
    )
    rejects(valid(**{field: ""}), R.MISSING_FIELD, field, f"{field} is missing")
    rejects(valid(**{field: "   "}), R.MISSING_FIELD, field, f"{field} is missing")
    rejects(valid(**{field: None}), R.MISSING_FIELD, field)
    data = valid()
    del data[field]
    rejects(data, R.MISSING_FIELD, field)
    rejects(valid(**{field: 5}), R.INVALID_FIELD, field, "must be a string (got int 5)")


@pytest.mark.parametrize("char", ["\x00", "\n", "\t", "\x1b", "\x7f", "\x85"])
def test_single_line_fields_refuse_control_characters(char: str) -> None:
    rejects(
        valid(title=f"Data{char}Engineer"),
        R.INVALID_FIELD,
        "title",
        f"control character (U+{ord(char):04X}) at position 4",
    )


def test_unpaired_surrogates_are_refused_without_a_unicode_error() -> None:
    rejects(valid(title="a\ud800b"), R.INVALID_FIELD, "title", "unpaired surrogate")
    msg = proto()
    with pytest.raises(UnicodeEncodeError):
        msg.body.title = "\udfff"  # the proto itself refuses; from_json must catch it first


# --- location -----------------------------------------------------------------------------


def test_city_is_optional_and_bounded() -> None:
    assert live(valid(location={"country_code": "PT"})).location == Location("", "PT")
    assert live(valid(location={"city": "", "country_code": "PT"})).location.city == ""
    city = "c" * L.CITY_MAX_LEN
    assert live(valid(location={"city": city, "country_code": "PT"})).location.city == city
    rejects(
        valid(location={"city": city + "c", "country_code": "PT"}),
        R.TOO_LONG,
        "location.city",
        "location.city is too long: 101 characters (max 100)",
    )


@pytest.mark.parametrize(
    ("code", "reason", "fragment"),
    [
        ("", R.MISSING_FIELD, "location.country_code is missing"),
        ("UK", R.INVALID_FIELD, "'UK' is not an ISO 3166-1 alpha-2 country code"),
        ("DEU", R.INVALID_FIELD, "'DEU' is not an ISO 3166-1"),
        ("D", R.INVALID_FIELD, "is not an ISO 3166-1"),
        ("ZZ", R.INVALID_FIELD, "is not an ISO 3166-1"),
    ],
)
def test_invalid_country_codes(code: str, reason: RejectReason, fragment: str) -> None:
    rejects(
        valid(location={"city": "X", "country_code": code}),
        reason,
        "location.country_code",
        fragment,
    )


def test_location_shape_errors() -> None:
    rejects(valid(location=None), R.MISSING_FIELD, "location", "location is missing")
    rejects(valid(location="Berlin"), R.INVALID_FIELD, "location", "must be a JSON object")
    rejects(
        valid(location={"city": "B", "country": "DE"}),
        R.INVALID_FIELD,
        "location.country",
        "unknown field 'country' in location",
    )
    rejects(
        valid(location={"city": 1, "country_code": "DE"}),
        R.INVALID_FIELD,
        "location.city",
        "must be a string",
    )
    msg = proto()
    msg.body.ClearField("location")
    rejects_proto(msg, R.MISSING_FIELD, "location")


# --- enums --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["remote_mode", "employment_type", "english_level"])
def test_enum_rules(field: str) -> None:
    rejects(valid(**{field: None}), R.MISSING_FIELD, field, f"{field} is missing; expected one")
    unspecified = {
        "remote_mode": "REMOTE_MODE_UNSPECIFIED",
        "employment_type": "EMPLOYMENT_TYPE_UNSPECIFIED",
        "english_level": "ENGLISH_LEVEL_UNSPECIFIED",
    }[field]
    rejects(valid(**{field: unspecified}), R.MISSING_FIELD, field)
    rejects(valid(**{field: "SOMETIMES"}), R.INVALID_FIELD, field, "'SOMETIMES' is not one of")
    rejects(valid(**{field: 2}), R.INVALID_FIELD, field, "is not one of")
    lower = valid()[field].lower()
    exc = rejects(valid(**{field: lower}), R.INVALID_FIELD, field)
    assert "UNSPECIFIED" not in str(exc)
    msg = proto()
    setattr(msg.body, field, 99)  # an open proto3 enum keeps unknown numbers
    rejects_proto(msg, R.INVALID_FIELD, field, "unknown value 99")


@pytest.mark.parametrize("mode", list(RemoteMode))
def test_every_remote_mode_round_trips(mode: RemoteMode) -> None:
    assert live(valid(remote_mode=mode.name)).remote_mode is mode


@pytest.mark.parametrize("kind", list(EmploymentType))
def test_every_employment_type_round_trips(kind: EmploymentType) -> None:
    assert live(valid(employment_type=kind.name)).employment_type is kind


@pytest.mark.parametrize("level", list(EnglishLevel))
def test_every_english_level_round_trips(level: EnglishLevel) -> None:
    assert live(valid(english_level=level.name)).english_level is level


# --- experience ---------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(0, 0), (0, 50), (50, 50), (5, 5)])
def test_valid_experience(low: int, high: int) -> None:
    posting = live(valid(experience_min_years=low, experience_max_years=high))
    assert (posting.experience_min_years, posting.experience_max_years) == (low, high)


def test_experience_defaults_to_zero_when_absent() -> None:
    data = valid()
    del data["experience_min_years"], data["experience_max_years"]
    posting = live(data)
    assert (posting.experience_min_years, posting.experience_max_years) == (0, 0)


def test_experience_min_greater_than_max_names_both() -> None:
    exc = rejects(
        valid(experience_min_years=7, experience_max_years=3),
        R.INVALID_FIELD,
        "experience_min_years",
    )
    assert str(exc) == "experience_min_years (7) is greater than experience_max_years (3)"


@pytest.mark.parametrize("field", ["experience_min_years", "experience_max_years"])
@pytest.mark.parametrize("bad", [51, -1, 2**32, 10**30])
def test_experience_out_of_range(field: str, bad: int) -> None:
    rejects(
        valid(**{"experience_min_years": 0, "experience_max_years": 50, field: bad}),
        R.INVALID_FIELD,
        field,
        f"{field} must be between 0 and 50 (got {bad})",
    )


@pytest.mark.parametrize("bad", ["3", 2.5, True, [3]])
def test_experience_must_be_an_integer(bad: object) -> None:
    rejects(valid(experience_min_years=bad), R.INVALID_FIELD, "experience_min_years", "integer")


# --- skills -------------------------------------------------------------------------------


def test_skills_are_normalised_and_deduplicated_in_order() -> None:
    posting = live(
        valid(skills=["Python", " python ", "Machine   Learning", "SQL", "PYTHON", "sql", "Go"])
    )
    assert posting.skills == ("python", "machine learning", "sql", "go")
    assert live(valid(skills=["ＰＹＴＨＯＮ", "python"])).skills == ("python",)  # noqa: RUF001
    assert live(valid(skills=[])).skills == ()
    assert live(valid(skills=None)).skills == ()


def test_skill_count_boundary() -> None:
    many = [f"skill-{i}" for i in range(L.SKILLS_MAX_COUNT)]
    assert len(live(valid(skills=many)).skills) == L.SKILLS_MAX_COUNT
    rejects(
        valid(skills=[*many, "one-more"]), R.TOO_LONG, "skills", "skills has 51 entries (max 50)"
    )
    # the limit counts what was sent, before deduplication
    rejects(valid(skills=["same"] * (L.SKILLS_MAX_COUNT + 1)), R.TOO_LONG, "skills")


def test_skill_length_boundary() -> None:
    longest = "s" * L.SKILL_MAX_LEN
    assert live(valid(skills=[longest])).skills == (longest,)
    rejects(
        valid(skills=["ok", longest + "s"]),
        R.TOO_LONG,
        "skills[1]",
        "skills[1] is too long: 65 characters (max 64)",
    )


@pytest.mark.parametrize(
    ("bad", "reason", "fragment"),
    [
        ("", R.INVALID_FIELD, "skills[0] is empty"),
        ("   ", R.INVALID_FIELD, "skills[0] is empty"),
        ("a\tb", R.INVALID_FIELD, "control character"),
        ("a\x00", R.INVALID_FIELD, "control character"),
        (7, R.INVALID_FIELD, "skills[0] must be a string"),
    ],
)
def test_invalid_skills(bad: object, reason: RejectReason, fragment: str) -> None:
    rejects(valid(skills=[bad]), reason, "skills[0]", fragment)


def test_skills_must_be_a_list() -> None:
    rejects(valid(skills="python"), R.INVALID_FIELD, "skills", "must be a list of strings")


# --- salary -------------------------------------------------------------------------------


def test_salary_is_optional() -> None:
    assert live(valid(salary=None)).salary is None
    data = valid()
    del data["salary"]
    assert live(data).salary is None


@pytest.mark.parametrize(
    ("low", "high"), [(0, 1), (1, 1), (50_000, 50_000), (0, L.SALARY_MAX), (5_000.0, 6_000.0)]
)
def test_valid_salaries(low: int, high: int) -> None:
    posting = live(valid(salary={"min": low, "max": high, "currency": "USD"}))
    assert posting.salary == Salary(int(low), int(high), "USD")


@pytest.mark.parametrize(
    ("salary", "reason", "field", "fragment"),
    [
        (
            {"min": 9, "max": 3, "currency": "EUR"},
            R.INVALID_FIELD,
            "salary.min",
            "salary.min (9) is greater than salary.max (3)",
        ),
        (
            {"min": -1, "max": 3, "currency": "EUR"},
            R.INVALID_FIELD,
            "salary.min",
            "salary.min must be between 0 and 1000000000000 (got -1)",
        ),
        (
            {"min": 1, "max": L.SALARY_MAX + 1, "currency": "EUR"},
            R.INVALID_FIELD,
            "salary.max",
            "salary.max must be between 0 and",
        ),
        (
            {"min": 1, "max": 2**63, "currency": "EUR"},
            R.INVALID_FIELD,
            "salary.max",
            "salary.max must be between 0 and",
        ),
        ({"min": 0, "max": 0, "currency": "EUR"}, R.INVALID_FIELD, "salary.max", "greater than 0"),
        ({"min": 1, "max": 2, "currency": ""}, R.MISSING_FIELD, "salary.currency", "missing"),
        ({"min": 1, "max": 2}, R.MISSING_FIELD, "salary.currency", "salary.currency is missing"),
        ({"max": 2, "currency": "EUR"}, R.MISSING_FIELD, "salary.min", "salary.min is missing"),
        (
            {"min": 1, "max": 2, "currency": "EURO"},
            R.INVALID_FIELD,
            "salary.currency",
            "'EURO' is not an ISO 4217 currency code",
        ),
        ({"min": 1, "max": 2, "currency": "XXX"}, R.INVALID_FIELD, "salary.currency", "ISO 4217"),
        ({"min": 1, "max": 2, "currency": "ABC"}, R.INVALID_FIELD, "salary.currency", "ISO 4217"),
        ({"min": "1", "max": 2, "currency": "EUR"}, R.INVALID_FIELD, "salary.min", "integer"),
        ({"min": 1.5, "max": 2, "currency": "EUR"}, R.INVALID_FIELD, "salary.min", "integer"),
        ({"min": 1, "max": 2, "currency": 978}, R.INVALID_FIELD, "salary.currency", "string"),
        (
            {"min": 1, "max": 2, "currency": "EUR", "period": "year"},
            R.INVALID_FIELD,
            "salary.period",
            "unknown field 'period' in salary",
        ),
        ([1, 2, "EUR"], R.INVALID_FIELD, "salary", "must be a JSON object"),
    ],
)
def test_invalid_salaries(salary: object, reason: RejectReason, field: str, fragment: str) -> None:
    rejects(valid(salary=salary), reason, field, fragment)


def test_proto_salary_message_present_but_empty_is_refused() -> None:
    msg = proto(salary=None)
    msg.body.salary.SetInParent()
    rejects_proto(msg, R.INVALID_FIELD, "salary.max", "leave salary unset")


# --- description --------------------------------------------------------------------------


def test_description_boundaries() -> None:
    text = "d" * L.DESCRIPTION_MAX_LEN
    assert live(valid(description=text)).description == text
    rejects(
        valid(description=text + "d"),
        R.TOO_LONG,
        "description",
        "description is too long: 20001 characters (max 20000)",
    )
    assert live(valid(description="")).description == ""
    assert live(valid(description=None)).description == ""
    assert live(valid(description="a\tb\r\nc")).description == "a\tb\r\nc"
    rejects(valid(description="a\x00b"), R.INVALID_FIELD, "description", "U+0000")
    rejects(valid(description="a\x0cb"), R.INVALID_FIELD, "description", "control character")


# --- posted_at ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T09:30:00Z", datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
        ("2026-11-20T11:30:00+02:00", datetime(2026, 11, 20, 9, 30, tzinfo=UTC)),
        ("2026-11-20T09:30:00.123456+00:00", datetime(2026, 11, 20, 9, 30, 0, 123456, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", L.POSTED_AT_MIN),
        ("2099-12-31T23:59:59.999999Z", L.POSTED_AT_MAX - timedelta(microseconds=1)),
    ],
)
def test_valid_posted_at(text: str, expected: datetime) -> None:
    posted_at = live(valid(posted_at=text)).posted_at
    assert posted_at == expected
    assert posted_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("2026-11-20T09:30:00", "has no timezone; add Z"),
        ("2026-11-20", "has no timezone"),
        ("yesterday", "is not an ISO 8601 timestamp"),
        ("2026-13-01T00:00:00Z", "is not an ISO 8601 timestamp"),
        ("1969-12-31T23:59:59Z", "outside 1970-01-01 to 2100-01-01"),
        ("2100-01-01T00:00:00Z", "outside 1970-01-01 to 2100-01-01"),
        ("0001-01-01T00:00:00+01:00", "outside"),
        (1_700_000_000, "must be a string"),
    ],
)
def test_invalid_posted_at(bad: object, fragment: str) -> None:
    rejects(valid(posted_at=bad), R.INVALID_FIELD, "posted_at", fragment)


def test_posted_at_is_required() -> None:
    rejects(valid(posted_at=None), R.MISSING_FIELD, "posted_at", "posted_at is missing")


def test_posted_at_in_the_future_is_refused_only_when_now_is_given() -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    soon = valid(posted_at="2026-11-21T12:00:00Z")  # exactly one day ahead: accepted
    later = valid(posted_at="2026-11-21T12:00:01Z")
    accepted = parse(soon, now=now)
    assert isinstance(accepted, Posting)
    assert accepted.posted_at == datetime(2026, 11, 21, 12, tzinfo=UTC)
    with pytest.raises(InvalidPosting, match="posted_at 2026-11-21T12:00:01Z is in the future"):
        parse(later, now=now)
    assert live(later).posted_at.year == 2026  # the sink (no now) stays deterministic


def test_proto_timestamp_edge_cases() -> None:
    msg = proto()
    msg.body.posted_at.nanos = 123_456_789
    posting = validate_event(msg, dim=DIM)
    assert isinstance(posting, Posting)
    assert posting.posted_at.microsecond == 123_456  # truncated to microseconds
    msg.body.posted_at.nanos = -1
    rejects_proto(msg, R.INVALID_FIELD, "posted_at", "posted_at.nanos must be between")
    msg.body.posted_at.nanos = 0
    msg.body.posted_at.seconds = 2**62
    rejects_proto(msg, R.INVALID_FIELD, "posted_at", "is outside")


# --- embedding ----------------------------------------------------------------------------


def test_embedding_follows_the_configured_dimension() -> None:
    assert live(valid(embedding=vector(8)), dim=8).embedding.shape == (8,)
    with pytest.raises(InvalidPosting, match="has 384 values; expected 8 float32 values"):
        parse(valid(), dim=8)


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (vector()[:-1], "embedding has 383 values; expected 384 float32 values (1536 bytes"),
        ([*vector(), 1.0], "has 385 values"),
        ([], "embedding is missing"),
        (None, "embedding is missing"),
        ([0.0] * DIM, "zero norm"),
        ([*vector()[:-1], float("nan")], "embedding[383] is nan"),
        ([float("inf"), *vector()[1:]], "embedding[0] is inf"),
        ([*vector()[:5], 1e39, *vector()[6:]], "embedding[5] is inf"),  # overflows float32
        ([*vector()[:-1], 10**400], "too large"),
        ([*vector()[:-1], "0.5"], "embedding[383] must be a number (got str"),
        ([*vector()[:-1], True], "embedding[383] must be a number (got bool"),
        ([*vector()[:-1], None], "embedding[383] must be a number (got null)"),
        ("AAAA", "must be a list of numbers"),
    ],
)
def test_invalid_embeddings(bad: object, fragment: str) -> None:
    field = "embedding[383]" if "embedding[383] must" in fragment else "embedding"
    rejects(valid(embedding=bad), R.INVALID_EMBEDDING, field, fragment)


def test_embedding_accepts_integers_and_is_stored_unit_normalised() -> None:
    ints = [3] + [0] * (DIM - 1)
    assert live(valid(embedding=ints)).embedding[0] == 1.0
    raw = np.array(vector(), dtype=np.float64) * 40.0
    stored = live(valid(embedding=raw.tolist())).embedding
    assert abs(float(np.linalg.norm(stored.astype(np.float64))) - 1.0) <= 1e-6
    assert np.allclose(stored, raw / np.linalg.norm(raw), atol=1e-7)  # same direction


def test_a_unit_vector_is_kept_bit_for_bit() -> None:
    unit = np.array(vector(), dtype=np.float32)
    unit /= np.linalg.norm(unit)
    event = live(valid(embedding=unit.tolist()))
    assert event.embedding_bytes == unit.astype("<f4").tobytes()
    again = validate_event(to_proto(event), dim=DIM)  # normalising is idempotent
    assert again.embedding_bytes == event.embedding_bytes


@pytest.mark.parametrize(
    ("scale", "fragment"),
    [
        (1e-30, "is below 1e-06"),  # float32 norm underflows: would rank first for every query
        (1e-8, "is below 1e-06"),
        (1e19, "is above 1e+06"),  # squares overflow float32: NaN scores
        (1e7, "is above 1e+06"),
    ],
)
def test_embedding_norm_must_be_sane(scale: float, fragment: str) -> None:
    rejects(valid(embedding=[scale] * DIM), R.INVALID_EMBEDDING, "embedding", fragment)


def test_embedding_norm_bounds_are_inclusive() -> None:
    for norm in (L.EMBEDDING_NORM_MIN * 1.01, L.EMBEDDING_NORM_MAX * 0.99):
        event = live(valid(embedding=[norm] + [0.0] * (DIM - 1)))
        assert event.embedding[0] == 1.0


def test_proto_embedding_byte_length_not_a_multiple_of_four() -> None:
    msg = proto()
    msg.body.embedding = msg.body.embedding[:-1]
    rejects_proto(
        msg, R.INVALID_EMBEDDING, "embedding", "1535 bytes, not a whole number of float32"
    )


def test_embedding_model_rules() -> None:
    name = "m" * L.EMBEDDING_MODEL_MAX_LEN
    assert live(valid(embedding_model=name)).embedding_model == name
    rejects(valid(embedding_model=name + "m"), R.TOO_LONG, "embedding_model", "max 200")
    rejects(valid(embedding_model=""), R.MISSING_FIELD, "embedding_model", "is missing")
    rejects(valid(embedding_model=None), R.MISSING_FIELD, "embedding_model")


def test_pack_and_unpack_embedding() -> None:
    values = np.array([1.0, -2.5, 0.0, 3.25], dtype=np.float64)
    packed = pack_embedding(values)
    assert packed == struct.pack("<4f", 1.0, -2.5, 0.0, 3.25)
    assert pack_embedding(values.astype(">f4")) == packed  # big-endian input is converted
    unpacked = unpack_embedding(packed, 4)
    assert unpacked.dtype == np.float32
    assert unpacked.tolist() == [1.0, -2.5, 0.0, 3.25]
    assert not unpacked.flags.writeable
    assert unpack_embedding(bytearray(packed), 4).tolist() == unpacked.tolist()
    with pytest.raises(InvalidPosting) as info:
        unpack_embedding(packed, 5)
    assert info.value.reason is R.INVALID_EMBEDDING
    with pytest.raises(ValueError, match="1-D"):
        pack_embedding(np.ones((2, 2)))
    with pytest.raises(InvalidPosting, match="zero norm"):
        validate_embedding(pack_embedding(np.zeros(4)), 4)


# --- producer metadata --------------------------------------------------------------------


def test_producer_metadata_is_kept_and_checked() -> None:
    data = valid(produced_at="2026-11-21T08:00:00.5+01:00", producer_id="crawler-7")
    posting = live(data)
    assert posting.produced_at == datetime(2026, 11, 21, 7, 0, 0, 500_000, tzinfo=UTC)
    assert posting.producer_id == "crawler-7"
    out = to_json(posting)
    assert out["produced_at"] == "2026-11-21T07:00:00.500000Z"
    assert out["producer_id"] == "crawler-7"
    rejects(valid(producer_id="p" * 201), R.TOO_LONG, "producer_id")
    rejects(valid(producer_id="a\nb"), R.INVALID_FIELD, "producer_id")
    rejects(valid(produced_at="later"), R.INVALID_FIELD, "produced_at")


# --- deletes ------------------------------------------------------------------------------


def test_delete_event() -> None:
    event = parse({"id": "acme:job-42", "version": 9, "deleted": True})
    assert event == PostingDeleted("acme:job-42", 9)
    assert event.deleted
    assert to_json(event) == {"id": "acme:job-42", "version": 9, "deleted": True}
    msg = to_proto(event)
    assert msg.deleted
    assert not msg.HasField("body")
    assert validate_event(msg, dim=DIM) == event
    assert decode_event(b"acme:job-42", encode_event(event), dim=DIM) == event
    # null body keys are "not stated", so they do not turn a delete into a live posting
    assert parse({"id": "a", "version": 1, "deleted": True, "salary": None}) == PostingDeleted(
        "a", 1
    )


def test_delete_event_rules() -> None:
    rejects({"id": "", "version": 1, "deleted": True}, R.INVALID_ID, "id")
    rejects({"id": "a", "version": 0, "deleted": True}, R.INVALID_VERSION, "version")
    rejects(valid(deleted=True), R.INVALID_FIELD, "body", "body must be absent on a delete")
    rejects({"id": "a", "version": 1, "deleted": "yes"}, R.INVALID_FIELD, "deleted", "true or")
    rejects({"id": "a", "version": 1}, R.MISSING_FIELD, "body", "body is missing", "deleted=true")
    rejects({"id": "a", "version": 1, "deleted": False}, R.MISSING_FIELD, "body")


# --- JSON shape ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, [], "x", 3, [valid()]])
def test_json_event_must_be_an_object(bad: object) -> None:
    rejects(bad, R.INVALID_FIELD, "event", "must be a JSON object")


def test_json_unknown_keys_are_refused() -> None:
    rejects(valid(salery=1), R.INVALID_FIELD, "salery", "unknown field 'salery' in event")
    rejects(valid(body={}), R.INVALID_FIELD, "body", "unknown field")
    data: dict[Any, Any] = valid()
    data[1] = "x"
    rejects(data, R.INVALID_FIELD, "1", "unknown field 1")
    rejects(valid(**{"": 1}), R.INVALID_FIELD, "''", "unknown field ''")


def test_from_json_checks_shape_only() -> None:
    msg = from_json(valid(title="", experience_min_years=9, experience_max_years=1))
    assert msg.body.title == ""  # domain rules are validate_event's job
    assert msg.body.experience_min_years == 9


def test_from_json_does_not_modify_its_input() -> None:
    data = valid()
    before = copy.deepcopy(data)
    parse(data)
    assert data == before


# --- round trips --------------------------------------------------------------------------


def test_json_round_trip_through_text() -> None:
    posting = live(valid(produced_at="2026-11-21T07:00:00Z", producer_id="p1"))
    line = json.dumps(to_json(posting))
    again = live(json.loads(line))
    assert again == posting
    assert again.embedding.tolist() == posting.embedding.tolist()
    assert to_json(again) == to_json(posting)


def test_to_json_shape() -> None:
    out = to_json(live(valid(salary=None)))
    assert out["salary"] is None
    assert out["posted_at"] == "2026-11-20T09:30:00Z"
    assert out["remote_mode"] == "HYBRID"
    assert isinstance(out["embedding"], list)
    assert isinstance(out["embedding"][0], float)
    assert "deleted" not in out
    assert "produced_at" not in out
    assert "producer_id" not in out
    assert set(out) | {"deleted", "produced_at", "producer_id"} == set(valid()) | {
        "deleted",
        "produced_at",
        "producer_id",
    }


def test_proto_round_trip_and_canonical_form() -> None:
    posting = live(valid(title="  T  ", skills=["B", "a", "b"], salary=None))
    msg = to_proto(posting)
    assert msg.body.title == "T"
    assert list(msg.body.skills) == ["b", "a"]
    assert not msg.body.HasField("salary")
    assert msg.body.embedding == posting.embedding_bytes
    assert validate_event(msg, dim=DIM) == posting
    assert to_proto(validate_event(msg, dim=DIM)) == msg  # canonical form is a fixed point


def test_decode_round_trip() -> None:
    posting = live(valid())
    assert decode_event(b"acme:job-42", encode_event(posting), dim=DIM) == posting


# --- decode_event -------------------------------------------------------------------------


@pytest.mark.parametrize("garbage", [b"\xff", b"\x0a\x05ab", b"\x0a\x02\xff\xfe", b"\x80" * 12])
def test_decode_garbage_is_undecodable(garbage: bytes) -> None:
    with pytest.raises(UndecodableRecord) as info:
        decode_event(b"k", garbage, dim=DIM)
    assert info.value.error_class == "undecodable"
    assert "PostingEvent" in str(info.value)


def test_decode_null_value_is_undecodable() -> None:
    with pytest.raises(UndecodableRecord, match="no value"):
        decode_event(b"k", None, dim=DIM)


@pytest.mark.parametrize("key", [b"other", None, b"", b"ACME:JOB-42", b"\xff"])
def test_decode_key_mismatch(key: bytes | None) -> None:
    value = encode_event(live(valid()))
    with pytest.raises(KeyMismatch) as info:
        decode_event(key, value, dim=DIM)
    exc = info.value
    assert exc.error_class == "key_mismatch"
    assert isinstance(exc, InvalidPosting)
    assert isinstance(exc, PoisonRecord)
    assert exc.field == "key"
    assert exc.reason is R.INVALID_ID
    assert "acme:job-42" in str(exc)


def test_decode_invalid_event_is_invalid_posting() -> None:
    msg = proto()
    msg.body.location.country_code = "XX"
    with pytest.raises(InvalidPosting) as info:
        decode_event(b"acme:job-42", msg.SerializeToString(), dim=DIM)
    assert info.value.error_class == "invalid_field"
    assert info.value.field == "location.country_code"


def test_decode_empty_value_is_a_missing_id() -> None:
    with pytest.raises(InvalidPosting) as info:
        decode_event(b"", b"", dim=DIM)
    assert info.value.reason is R.INVALID_ID


def test_decode_ignores_unknown_fields_for_forward_compatibility() -> None:
    posting = live(valid())
    value = encode_event(posting) + b"\xa8\x06\x01"  # field 101, varint 1
    assert decode_event(b"acme:job-42", value, dim=DIM) == posting


# --- exceptions ---------------------------------------------------------------------------


def test_error_classes_and_reason_forms() -> None:
    by_name = InvalidPosting("TOO_LONG", "title", "title is too long")
    by_number = InvalidPosting(5, "title", "title is too long")
    assert by_name.reason is by_number.reason is R.TOO_LONG
    assert by_name.error_class == "too_long"
    assert str(by_name) == by_name.message == "title is too long"
    assert isinstance(by_name, ValueError)
    assert "TOO_LONG" in repr(by_name)
    assert UndecodableRecord("x").error_class == "undecodable"
    assert {R(r).name.lower() for r in range(1, 8)} >= {"invalid_embedding", "missing_field"}
    rejection = by_name.to_rejection(id="a", index=4)
    assert rejection == ingest_pb2.Rejection(
        id="a", index=4, reason=ingest_pb2.TOO_LONG, message="title is too long"
    )


# --- version resets -----------------------------------------------------------------------


def test_a_version_reset_is_refused_as_a_publish_and_decoded_by_the_sink() -> None:
    from schemas.domain import VersionReset, decode_record, version_reset

    now = datetime(2026, 11, 26, tzinfo=UTC)
    reset = version_reset("acme:job-42", 5, producer_id="ops", now=now)
    assert reset == VersionReset("acme:job-42", 5, now, "ops")
    wire = encode_event(reset)
    assert decode_record(b"acme:job-42", wire, dim=DIM) == reset
    with pytest.raises(InvalidPosting, match="operator command") as info:
        decode_event(b"acme:job-42", wire, dim=DIM)  # the gateway's and the API's rule
    assert info.value.field == "version_reset"
    msg = to_proto(reset)
    msg.deleted = True
    with pytest.raises(InvalidPosting, match="carries only id and version"):
        decode_record(b"acme:job-42", msg.SerializeToString(), dim=DIM)
    for posting_id, version, field in (("bad id", 5, "id"), ("ok", 0, "version")):
        with pytest.raises(InvalidPosting) as bad:
            version_reset(posting_id, version, producer_id="ops", now=now)
        assert bad.value.field == field
    with pytest.raises(InvalidPosting, match="between 1 and 9223372036854775807"):
        version_reset("ok", 2**63, producer_id="ops", now=now)
