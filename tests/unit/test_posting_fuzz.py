"""Fuzz the domain's entry points: whatever arrives, only the documented exceptions escape.

decode_event sees raw Kafka bytes and from_json/parse_json see arbitrary decoded JSON; a
stray KeyError, TypeError or UnicodeError there would crash a sink worker or a producer
instead of producing a clean rejection or dead letter.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas.domain import limits as L
from schemas.jobstream.v1 import posting_pb2
from schemas.posting import (
    COUNTRY_CODES,
    CURRENCY_CODES,
    EmploymentType,
    EnglishLevel,
    InvalidPosting,
    PoisonRecord,
    Posting,
    PostingDeleted,
    RejectReason,
    RemoteMode,
    UndecodableRecord,
    decode_event,
    encode_event,
    from_json,
    parse_json,
    to_json,
    to_proto,
    validate_event,
)

DIM = 16
# No example database: it would write .hypothesis/ into the repository.
# JOBSTREAM_FUZZ_EXAMPLES=20000 for a longer run.
FUZZ = settings(
    max_examples=int(os.environ.get("JOBSTREAM_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
ERROR_CLASSES = {"undecodable", "key_mismatch"} | {r.name.lower() for r in RejectReason}


def check_poison(exc: PoisonRecord) -> None:
    """A documented exception with a usable message and DLQ error class."""
    assert type(exc).__name__ in {"UndecodableRecord", "InvalidPosting", "KeyMismatch"}
    assert exc.error_class in ERROR_CLASSES
    assert str(exc)
    if isinstance(exc, InvalidPosting):
        assert exc.field
        assert isinstance(exc.reason, RejectReason)


def base_event() -> dict[str, Any]:
    rng = np.random.default_rng(1)
    return {
        "id": "fuzz-1",
        "version": 2,
        "title": "Engineer",
        "company": "ACME",
        "location": {"city": "Lisbon", "country_code": "PT"},
        "remote_mode": "REMOTE",
        "employment_type": "CONTRACT",
        "experience_min_years": 1,
        "experience_max_years": 4,
        "english_level": "FLUENT",
        "skills": ["rust", "go"],
        "salary": {"min": 10, "max": 20, "currency": "EUR"},
        "description": "text",
        "posted_at": "2026-01-02T03:04:05Z",
        "embedding": [float(x) for x in rng.standard_normal(DIM).astype(np.float32)],
        "embedding_model": "hash-16",
    }


BASE_VALUE = encode_event(parse_json(base_event(), dim=DIM))

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text()
    | st.sampled_from(["", "Z", "REMOTE", "EUR", "DE", "2026-01-01T00:00:00Z", "\ud800", "\x00"])
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=25,
)
field_names = st.sampled_from([*base_event(), "deleted", "produced_at", "producer_id", "x"])


# --- decode_event on raw bytes ------------------------------------------------------------


@FUZZ
@given(key=st.none() | st.binary(max_size=40), value=st.none() | st.binary(max_size=3000))
def test_decode_arbitrary_bytes(key: bytes | None, value: bytes | None) -> None:
    try:
        event = decode_event(key, value, dim=DIM)
    except PoisonRecord as exc:
        check_poison(exc)
    else:
        assert decode_event(key, encode_event(event), dim=DIM) == event


@FUZZ
@given(data=st.data())
def test_decode_corrupted_valid_records(data: st.DataObject) -> None:
    """Flip, cut and splice a valid record: much closer to real corruption than noise."""
    value = bytearray(BASE_VALUE)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(value) - 1, 0)))
        if op == "flip" and value:
            value[at] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del value[at:]
        elif op == "insert":
            value[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif value:
            del value[at : at + data.draw(st.integers(1, 16))]
    try:
        decode_event(b"fuzz-1", bytes(value), dim=DIM)
    except PoisonRecord as exc:
        check_poison(exc)


@FUZZ
@given(
    id=st.text(max_size=140),
    version=st.integers(-(2**63), 2**63 - 1),
    deleted=st.booleans(),
    with_body=st.booleans(),
    title=st.text(max_size=400),
    country=st.text(max_size=4),
    enums=st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9)),
    years=st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    skills=st.lists(st.text(max_size=70), max_size=55),
    salary=st.none()
    | st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(), st.text(max_size=4)),
    seconds=st.integers(-(2**40), 2**40),
    nanos=st.integers(-(2**31), 2**31 - 1),
    embedding=st.binary(max_size=DIM * 4 + 8),
    model=st.text(max_size=210),
)
def test_validate_arbitrary_wire_values(**fields: Any) -> None:
    msg = posting_pb2.PostingEvent()
    try:
        msg.id = fields["id"]
        msg.version = fields["version"]
        msg.deleted = fields["deleted"]
        if fields["with_body"]:
            body = msg.body
            body.title = fields["title"]
            body.company = "c"
            body.location.country_code = fields["country"]
            body.remote_mode, body.employment_type, body.english_level = fields["enums"]
            body.experience_min_years, body.experience_max_years = fields["years"]
            body.skills.extend(fields["skills"])
            if fields["salary"] is not None:
                low, high, currency = fields["salary"]
                body.salary.min, body.salary.currency = low, currency
                body.salary.max = max(min(high, 2**63 - 1), -(2**63))
            body.posted_at.seconds = fields["seconds"]
            body.posted_at.nanos = fields["nanos"]
            body.embedding = fields["embedding"]
            body.embedding_model = fields["model"]
    except (UnicodeEncodeError, ValueError):
        assume(False)  # the proto itself cannot hold this value: nothing to validate
    try:
        event = validate_event(msg, dim=DIM)
    except InvalidPosting as exc:
        check_poison(exc)
    else:
        assert validate_event(to_proto(event), dim=DIM) == event


# --- from_json / parse_json on arbitrary JSON ---------------------------------------------


def parse_or_reject(obj: object) -> Posting | PostingDeleted | None:
    try:
        from_json(obj)
        return parse_json(obj, dim=DIM)
    except InvalidPosting as exc:
        check_poison(exc)
        return None


@FUZZ
@given(obj=json_values)
def test_parse_arbitrary_json_values(obj: object) -> None:
    parse_or_reject(obj)


@FUZZ
@given(text=json_values.map(json.dumps) | st.text(max_size=300))
def test_parse_arbitrary_json_text(text: str) -> None:
    """Through the json module, as the NDJSON reader does (NaN, big ints, escapes)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return
    parse_or_reject(obj)


@FUZZ
@given(changes=st.dictionaries(field_names, json_values, min_size=1, max_size=4))
def test_parse_valid_event_with_fields_replaced(changes: dict[str, Any]) -> None:
    parse_or_reject(base_event() | changes)


@FUZZ
@given(
    part=st.sampled_from(["location", "salary"]),
    changes=st.dictionaries(
        st.sampled_from(["city", "country_code", "min", "max", "currency", "y"]),
        json_values,
        min_size=1,
        max_size=3,
    ),
)
def test_parse_valid_event_with_nested_fields_replaced(part: str, changes: dict[str, Any]) -> None:
    event = base_event()
    event[part] = event[part] | changes
    parse_or_reject(event)


@FUZZ
@given(index=st.integers(0, DIM - 1), value=json_scalars)
def test_parse_embedding_with_one_value_replaced(index: int, value: object) -> None:
    event = base_event()
    event["embedding"][index] = value
    parse_or_reject(event)


# --- valid postings round-trip ------------------------------------------------------------

line_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=40
).filter(str.strip)
# Values up to 1e4 keep the norm under EMBEDDING_NORM_MAX (1e4 * sqrt(384) < 1e6).
vectors = st.lists(
    st.floats(-1e4, 1e4, width=32, allow_subnormal=False), min_size=DIM, max_size=DIM
).filter(lambda v: L.EMBEDDING_NORM_MIN <= math.hypot(*v) <= L.EMBEDDING_NORM_MAX)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return {
            "id": draw(st.from_regex(L.ID_PATTERN, fullmatch=True)),
            "version": draw(st.integers(1, L.INT64_MAX)),
            "deleted": True,
        }
    low = draw(st.integers(0, L.EXPERIENCE_MAX_YEARS))
    salary_min = draw(st.integers(0, L.SALARY_MAX))
    posted = L.POSTED_AT_MIN + timedelta(microseconds=draw(st.integers(0, 4_000_000_000_000_000)))
    return {
        "id": draw(st.from_regex(L.ID_PATTERN, fullmatch=True)),
        "version": draw(st.integers(1, L.INT64_MAX)),
        "title": draw(line_text),
        "company": draw(line_text),
        "location": {
            "city": draw(line_text),
            "country_code": draw(st.sampled_from(sorted(COUNTRY_CODES))),
        },
        "remote_mode": draw(st.sampled_from([m.name for m in RemoteMode])),
        "employment_type": draw(st.sampled_from([m.name for m in EmploymentType])),
        "experience_min_years": low,
        "experience_max_years": draw(st.integers(low, L.EXPERIENCE_MAX_YEARS)),
        "english_level": draw(st.sampled_from([m.name for m in EnglishLevel])),
        "skills": draw(
            st.lists(line_text.filter(lambda s: len(s) <= L.SKILL_MAX_LEN // 2), max_size=8)
        ),
        "salary": draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "min": st.just(salary_min),
                    "max": st.integers(max(salary_min, 1), L.SALARY_MAX),
                    "currency": st.sampled_from(sorted(CURRENCY_CODES)),
                }
            )
        ),
        "description": draw(
            st.text(
                alphabet=st.characters(blacklist_categories=["Cc", "Cs"]) | st.sampled_from("\n\t"),
                max_size=200,
            )
        ),
        "posted_at": posted.astimezone(UTC).isoformat(),
        "embedding": draw(vectors),
        "embedding_model": draw(line_text),
    }


@FUZZ
@given(obj=valid_events())
def test_valid_events_round_trip(obj: dict[str, Any]) -> None:
    try:
        event = parse_json(obj, dim=DIM)
    except InvalidPosting as exc:  # only the length of a normalised skill may still trip
        assume(not exc.field.startswith("skills["))
        raise
    assert isinstance(event, PostingDeleted) == bool(obj.get("deleted"))
    assert parse_json(json.loads(json.dumps(to_json(event))), dim=DIM) == event
    assert validate_event(to_proto(event), dim=DIM) == event
    assert decode_event(event.id.encode(), encode_event(event), dim=DIM) == event
    if isinstance(event, Posting):
        assert event.posted_at.tzinfo is UTC
        assert isinstance(event.posted_at, datetime)
        assert all(math.isfinite(x) for x in event.embedding.tolist())


def test_documented_exception_types_are_poison_records() -> None:
    assert issubclass(UndecodableRecord, PoisonRecord)
    assert issubclass(InvalidPosting, PoisonRecord)
