"""Conversions between domain events, wire protos and the NDJSON producer format.

JSON shape (one object per line): the body fields sit at the top level next to ``id``
and ``version``; enums are names ("REMOTE"); ``posted_at`` is ISO 8601 with an offset;
``salary`` is ``{"min", "max", "currency"}`` or null; ``embedding`` is a list of floats.
A delete is ``{"id", "version", "deleted": true}``. ``produced_at`` / ``producer_id`` are
optional. ``null`` means "not stated" for every key; unknown keys are refused (a typo
must not silently drop a field). :func:`from_json` checks shape and types only -- the
domain rules are :func:`~schemas.domain.validate.validate_event`'s job.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from schemas.domain import limits as L
from schemas.domain.errors import InvalidPosting, RejectReason
from schemas.domain.model import LogEvent, Posting, PostingDeleted, VersionReset
from schemas.domain.text import shown
from schemas.domain.timestamps import format_iso, parse_iso, to_timestamp
from schemas.domain.validate import validate_event
from schemas.domain.vectors import FLOAT32_LE
from schemas.jobstream.v1 import posting_pb2

_EVENT_KEYS = ("id", "version", "deleted", "produced_at", "producer_id")
_BODY_KEYS = (
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
    "embedding",
    "embedding_model",
)
_KEYS = frozenset(_EVENT_KEYS + _BODY_KEYS)
_ENUMS = {
    "remote_mode": posting_pb2.RemoteMode,
    "employment_type": posting_pb2.EmploymentType,
    "english_level": posting_pb2.EnglishLevel,
}


def to_proto(event: LogEvent) -> posting_pb2.PostingEvent:
    """The wire form of a domain event (what the gateway writes to Kafka)."""
    msg = posting_pb2.PostingEvent(
        id=event.id, version=event.version, producer_id=event.producer_id
    )
    if event.produced_at is not None:
        msg.produced_at.CopyFrom(to_timestamp(event.produced_at))
    if isinstance(event, VersionReset):
        msg.version_reset = True
        return msg
    if isinstance(event, PostingDeleted):
        msg.deleted = True
        return msg
    salary = event.salary
    msg.body.CopyFrom(
        posting_pb2.PostingBody(
            title=event.title,
            company=event.company,
            location=posting_pb2.Location(
                city=event.location.city, country_code=event.location.country_code
            ),
            remote_mode=event.remote_mode.name,
            employment_type=event.employment_type.name,
            experience_min_years=event.experience_min_years,
            experience_max_years=event.experience_max_years,
            english_level=event.english_level.name,
            skills=event.skills,
            salary=None
            if salary is None
            else posting_pb2.Salary(min=salary.min, max=salary.max, currency=salary.currency),
            description=event.description,
            posted_at=to_timestamp(event.posted_at),
            embedding=event.embedding_bytes,
            embedding_model=event.embedding_model,
        )
    )
    return msg


def encode_event(event: LogEvent) -> bytes:
    """The Kafka record value for an event (its key is ``event.id`` in UTF-8)."""
    return to_proto(event).SerializeToString()


def to_json(event: Posting | PostingDeleted) -> dict[str, Any]:
    """The NDJSON form of a domain event; ``from_json`` + ``validate_event`` invert it."""
    out: dict[str, Any] = {"id": event.id, "version": event.version}
    if isinstance(event, PostingDeleted):
        out["deleted"] = True
    else:
        salary = event.salary
        out |= {
            "title": event.title,
            "company": event.company,
            "location": {"city": event.location.city, "country_code": event.location.country_code},
            "remote_mode": event.remote_mode.name,
            "employment_type": event.employment_type.name,
            "experience_min_years": event.experience_min_years,
            "experience_max_years": event.experience_max_years,
            "english_level": event.english_level.name,
            "skills": list(event.skills),
            "salary": None
            if salary is None
            else {"min": salary.min, "max": salary.max, "currency": salary.currency},
            "description": event.description,
            "posted_at": format_iso(event.posted_at),
            "embedding": event.embedding.tolist(),
            "embedding_model": event.embedding_model,
        }
    if event.produced_at is not None:
        out["produced_at"] = format_iso(event.produced_at)
    if event.producer_id:
        out["producer_id"] = event.producer_id
    return out


def parse_json(obj: object, *, dim: int, now: datetime | None = None) -> Posting | PostingDeleted:
    """``validate_event(from_json(obj))``: one NDJSON object to a checked domain event."""
    return validate_event(from_json(obj), dim=dim, now=now)


def from_json(obj: object) -> posting_pb2.PostingEvent:
    """Build the wire event from a decoded JSON object; raise InvalidPosting on bad shape."""
    data = _object(obj, "event", _KEYS)
    msg = posting_pb2.PostingEvent()
    _put(data, "id", lambda v: setattr(msg, "id", _str(v, "id", RejectReason.INVALID_ID)))
    _put(data, "version", lambda v: setattr(msg, "version", _version(v)))
    _put(data, "deleted", lambda v: setattr(msg, "deleted", _bool(v, "deleted")))
    _put(data, "produced_at", lambda v: msg.produced_at.CopyFrom(_time(v, "produced_at")))
    _put(data, "producer_id", lambda v: setattr(msg, "producer_id", _str(v, "producer_id")))
    if any(data.get(key) is not None for key in _BODY_KEYS):
        _body(data, msg.body)
    return msg


def _body(data: dict[str, Any], body: posting_pb2.PostingBody) -> None:
    body.SetInParent()
    for key in ("title", "company", "description", "embedding_model"):
        if data.get(key) is not None:
            setattr(body, key, _str(data[key], key))
    _put(data, "location", lambda v: _location(v, body.location))
    for key, kind in _ENUMS.items():
        if data.get(key) is not None:
            setattr(body, key, _enum(data[key], key, kind.keys()))
    for key in ("experience_min_years", "experience_max_years"):
        if data.get(key) is not None:
            setattr(body, key, _years(data[key], key))
    _put(data, "skills", lambda v: body.skills.extend(_skills(v)))
    _put(data, "salary", lambda v: _salary(v, body.salary))
    _put(data, "posted_at", lambda v: body.posted_at.CopyFrom(_time(v, "posted_at")))
    _put(data, "embedding", lambda v: setattr(body, "embedding", _embedding(v)))


def _put(data: dict[str, Any], key: str, setter: Callable[[Any], object]) -> None:
    value = data.get(key)
    if value is not None:
        setter(value)


def _object(value: object, field: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _type_error(field, "a JSON object", value)
    for key in value:
        if key not in allowed:
            name = str(key) or repr(key)
            raise InvalidPosting(
                RejectReason.INVALID_FIELD,
                name if field == "event" else f"{field}.{name}",
                f"unknown field {shown(key)} in {field}; expected: {', '.join(sorted(allowed))}",
            )
    return value


def _location(value: object, location: posting_pb2.Location) -> None:
    data = _object(value, "location", frozenset({"city", "country_code"}))
    _put(data, "city", lambda v: setattr(location, "city", _str(v, "location.city")))
    _put(
        data,
        "country_code",
        lambda v: setattr(location, "country_code", _str(v, "location.country_code")),
    )


def _salary(value: object, salary: posting_pb2.Salary) -> None:
    data = _object(value, "salary", frozenset({"min", "max", "currency"}))
    for key in ("min", "max", "currency"):
        if data.get(key) is None:
            raise InvalidPosting(
                RejectReason.MISSING_FIELD,
                f"salary.{key}",
                f"salary.{key} is missing (salary needs min, max and currency, or null)",
            )
    salary.min = _int(data["min"], "salary.min", 0, L.SALARY_MAX, -(2**63), L.INT64_MAX)
    salary.max = _int(data["max"], "salary.max", 0, L.SALARY_MAX, -(2**63), L.INT64_MAX)
    salary.currency = _str(data["currency"], "salary.currency")


def _str(value: object, field: str, reason: RejectReason = RejectReason.INVALID_FIELD) -> str:
    if not isinstance(value, str):
        raise _type_error(field, "a string", value, reason)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPosting(
            reason, field, f"{field} contains an unpaired surrogate at position {exc.start}"
        ) from None
    return value


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(field, "true or false", value)
    return value


def _int(value: object, field: str, lo: int, hi: int, wire_lo: int, wire_hi: int) -> int:
    """An integer (integral floats like 5.0 count); ``lo..hi`` is only used in the message
    when the value does not even fit the wire type (``wire_lo..wire_hi``)."""
    reason = RejectReason.INVALID_VERSION if field == "version" else RejectReason.INVALID_FIELD
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(field, "an integer", value, reason)
    if not wire_lo <= value <= wire_hi:
        raise InvalidPosting(reason, field, f"{field} must be between {lo} and {hi} (got {value})")
    return value


def _version(value: object) -> int:
    return _int(value, "version", L.VERSION_MIN, L.INT64_MAX, -(2**63), L.INT64_MAX)


def _years(value: object, field: str) -> int:
    return _int(value, field, L.EXPERIENCE_MIN_YEARS, L.EXPERIENCE_MAX_YEARS, 0, L.UINT32_MAX)


def _enum(value: object, field: str, names: list[str]) -> str:
    if not isinstance(value, str) or value not in names:
        expected = ", ".join(name for name in names if not name.endswith("_UNSPECIFIED"))
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            field,
            f"{field} {shown(value)} is not one of {expected}",
        )
    return value


def _skills(value: object) -> list[str]:
    if not isinstance(value, list):
        raise _type_error("skills", "a list of strings", value)
    return [_str(item, f"skills[{index}]") for index, item in enumerate(value)]


def _time(value: object, field: str) -> Timestamp:
    return to_timestamp(parse_iso(_str(value, field), field))


def _embedding(value: object) -> bytes:
    reason = RejectReason.INVALID_EMBEDDING
    if not isinstance(value, list):
        raise _type_error("embedding", "a list of numbers", value, reason)
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise _type_error(f"embedding[{index}]", "a number", item, reason)
    try:
        values = np.array(value, dtype=np.float64)
    except OverflowError:
        raise InvalidPosting(
            reason, "embedding", "embedding has an integer too large for a float32"
        ) from None
    with np.errstate(over="ignore", invalid="ignore"):
        # Out-of-range values become inf here and are reported by validation.
        return values.astype(FLOAT32_LE).tobytes()


def _type_error(
    field: str, expected: str, value: object, reason: RejectReason = RejectReason.INVALID_FIELD
) -> InvalidPosting:
    got = "null" if value is None else f"{type(value).__name__} {shown(value)}"
    return InvalidPosting(reason, field, f"{field} must be {expected} (got {got})")
