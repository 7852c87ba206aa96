"""Turn a wire ``PostingEvent`` into a domain event, or say precisely why it cannot be one.

The gateway calls :func:`validate_event` before writing to Kafka; the sink calls
:func:`decode_event` on every record, so a record that slipped past (an old gateway, a
hand-written producer) becomes a dead letter instead of a crash. The first problem found
is reported (fields are checked in proto order).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import DecodeError

from schemas.domain import limits as L
from schemas.domain.errors import InvalidPosting, KeyMismatch, RejectReason, UndecodableRecord
from schemas.domain.iso import COUNTRY_CODES, CURRENCY_CODES
from schemas.domain.model import (
    EmploymentType,
    EnglishLevel,
    Location,
    LogEvent,
    Posting,
    PostingDeleted,
    RemoteMode,
    Salary,
    VersionReset,
)
from schemas.domain.text import line, shown, skill, text
from schemas.domain.timestamps import format_iso, from_timestamp
from schemas.domain.vectors import validate_embedding
from schemas.jobstream.v1 import posting_pb2

E = TypeVar("E", bound=enum.Enum)


def validate_event(
    msg: posting_pb2.PostingEvent, *, dim: int, now: datetime | None = None
) -> Posting | PostingDeleted:
    """Check every rule and return the normalised domain event; raise InvalidPosting.

    ``dim`` is the configured embedding dimension (``Settings.embedding_dim``). Pass an
    aware ``now`` (the gateway does) to also refuse posted_at more than
    ``POSTED_AT_MAX_FUTURE`` ahead; the sink leaves it out so replays are deterministic.
    """
    event_id = _check_id(msg.id)
    version = _check_version(msg.version)
    produced_at = (
        from_timestamp(msg.produced_at, "produced_at") if msg.HasField("produced_at") else None
    )
    producer_id = line(msg.producer_id, "producer_id", L.PRODUCER_ID_MAX_LEN, required=False)
    if msg.version_reset:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            "version_reset",
            "version_reset is an operator command (admin scope): use `jobstream postings "
            "reset-version` or the resetPostingVersion mutation, not a publish",
        )
    if msg.deleted:
        if msg.HasField("body"):
            raise InvalidPosting(
                RejectReason.INVALID_FIELD,
                "body",
                "body must be absent on a delete (deleted=true carries only id and version)",
            )
        return PostingDeleted(event_id, version, produced_at, producer_id)
    if not msg.HasField("body"):
        raise InvalidPosting(
            RejectReason.MISSING_FIELD,
            "body",
            "body is missing: a live posting needs its content (set deleted=true to delete)",
        )
    body = msg.body
    title = line(body.title, "title", L.TITLE_MAX_LEN, required=True)
    company = line(body.company, "company", L.COMPANY_MAX_LEN, required=True)
    location = _location(body)
    remote_mode = _enum(body.remote_mode, RemoteMode, "remote_mode")
    employment_type = _enum(body.employment_type, EmploymentType, "employment_type")
    exp_min = _years(body.experience_min_years, "experience_min_years")
    exp_max = _years(body.experience_max_years, "experience_max_years")
    _ordered(exp_min, exp_max, "experience_min_years", "experience_max_years")
    return Posting(
        id=event_id,
        version=version,
        title=title,
        company=company,
        location=location,
        remote_mode=remote_mode,
        employment_type=employment_type,
        experience_min_years=exp_min,
        experience_max_years=exp_max,
        english_level=_enum(body.english_level, EnglishLevel, "english_level"),
        skills=_skills(body.skills),
        salary=_salary(body),
        description=text(body.description, "description", L.DESCRIPTION_MAX_LEN),
        posted_at=_posted_at(body, now),
        embedding=validate_embedding(body.embedding, dim),
        embedding_model=line(
            body.embedding_model, "embedding_model", L.EMBEDDING_MODEL_MAX_LEN, required=True
        ),
        produced_at=produced_at,
        producer_id=producer_id,
    )


def validate_record(msg: posting_pb2.PostingEvent, *, dim: int) -> LogEvent:
    """What the sink applies: :func:`validate_event`'s events, or a :class:`VersionReset`
    (an operator's command, refused by ``validate_event``: publishers may not send it)."""
    if msg.version_reset:
        return validate_reset(msg)
    return validate_event(msg, dim=dim)


def validate_reset(msg: posting_pb2.PostingEvent) -> VersionReset:
    """A version reset carries an id and the new version only (no body, not deleted)."""
    event_id = _check_id(msg.id)
    version = _check_version(msg.version)
    if msg.deleted or msg.HasField("body"):
        field = "deleted" if msg.deleted else "body"
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            field,
            f"a version reset carries only id and version ({field} must be absent)",
        )
    produced_at = (
        from_timestamp(msg.produced_at, "produced_at") if msg.HasField("produced_at") else None
    )
    producer_id = line(msg.producer_id, "producer_id", L.PRODUCER_ID_MAX_LEN, required=False)
    return VersionReset(event_id, version, produced_at, producer_id)


def version_reset(
    posting_id: str, version: int, *, producer_id: str, now: datetime
) -> VersionReset:
    """A checked reset command from an operator's input (the CLI and the admin mutation)."""
    if not L.VERSION_MIN <= version <= L.INT64_MAX:
        raise InvalidPosting(
            RejectReason.INVALID_VERSION,
            "version",
            f"version must be between {L.VERSION_MIN} and {L.INT64_MAX} (got {version})",
        )
    return VersionReset(_check_id(posting_id), version, now, producer_id)


def decode_event(key: bytes | None, value: bytes | None, *, dim: int) -> Posting | PostingDeleted:
    """Decode and validate one Kafka record of postings.v1 (a version reset is refused:
    see :func:`decode_record`).

    Raises UndecodableRecord (not a protobuf), KeyMismatch (key is not the event id) or
    InvalidPosting (breaks a rule) -- all PoisonRecord, all safe to dead-letter.
    """
    return validate_event(_parse_record(key, value), dim=dim)


def decode_record(key: bytes | None, value: bytes | None, *, dim: int) -> LogEvent:
    """:func:`decode_event` for the sink: a version reset is an event too."""
    return validate_record(_parse_record(key, value), dim=dim)


def _parse_record(key: bytes | None, value: bytes | None) -> posting_pb2.PostingEvent:
    if value is None:
        raise UndecodableRecord("record has no value (null); expected a PostingEvent")
    try:
        msg = posting_pb2.PostingEvent.FromString(value)
    except DecodeError as exc:
        raise UndecodableRecord(
            f"{len(value)} bytes are not a jobstream.v1.PostingEvent protobuf: {exc}"
        ) from None
    except Exception as exc:  # parsing is pure CPU: any failure is about the bytes
        raise UndecodableRecord(
            f"{len(value)} bytes could not be parsed as a PostingEvent: {exc!r}"
        ) from None
    if key is None or key != msg.id.encode("utf-8"):
        raise KeyMismatch(key, msg.id)
    return msg


def _check_id(value: str) -> str:
    if not value:
        raise InvalidPosting(RejectReason.INVALID_ID, "id", "id is missing")
    if len(value) > L.ID_MAX_LEN:
        raise InvalidPosting(
            RejectReason.INVALID_ID,
            "id",
            f"id is too long: {len(value)} characters (max {L.ID_MAX_LEN})",
        )
    if not L.ID_PATTERN.fullmatch(value):
        raise InvalidPosting(
            RejectReason.INVALID_ID,
            "id",
            f"id {shown(value)} may only contain letters, digits and . _ : -",
        )
    return value


def _check_version(value: int) -> int:
    if value < L.VERSION_MIN:
        raise InvalidPosting(
            RejectReason.INVALID_VERSION,
            "version",
            f"version must be a positive integer (got {value})",
        )
    return value


def _years(value: int, field: str) -> int:
    if not L.EXPERIENCE_MIN_YEARS <= value <= L.EXPERIENCE_MAX_YEARS:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            field,
            f"{field} must be between {L.EXPERIENCE_MIN_YEARS} and "
            f"{L.EXPERIENCE_MAX_YEARS} (got {value})",
        )
    return value


def _ordered(low: int, high: int, low_field: str, high_field: str) -> None:
    """A range's lower bound may not exceed its upper bound (reported on the lower one)."""
    if low > high:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            low_field,
            f"{low_field} ({low}) is greater than {high_field} ({high})",
        )


def _enum(value: int, kind: type[E], field: str) -> E:
    try:
        return kind(value)
    except ValueError:
        pass
    names = ", ".join(member.name for member in kind)
    if value == 0:
        raise InvalidPosting(
            RejectReason.MISSING_FIELD, field, f"{field} is missing; expected one of {names}"
        )
    raise InvalidPosting(
        RejectReason.INVALID_FIELD,
        field,
        f"{field} has unknown value {value}; expected one of {names}",
    )


def _location(body: posting_pb2.PostingBody) -> Location:
    if not body.HasField("location"):
        raise InvalidPosting(
            RejectReason.MISSING_FIELD, "location", "location is missing (needs country_code)"
        )
    city = line(body.location.city, "location.city", L.CITY_MAX_LEN, required=False)
    code = _code(body.location.country_code, "location.country_code", COUNTRY_CODES, 2)
    return Location(city=city, country_code=code)


def _code(value: str, field: str, valid: frozenset[str], size: int) -> str:
    """ISO codes are stored upper case; lower-case input is accepted and normalised."""
    standard = "ISO 3166-1 alpha-2 country" if size == 2 else "ISO 4217 currency"
    code = value.strip().upper()
    if not code:
        raise InvalidPosting(
            RejectReason.MISSING_FIELD, field, f"{field} is missing ({standard} code)"
        )
    if code not in valid:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD, field, f"{field} {shown(value)} is not an {standard} code"
        )
    return code


def _skills(values: Sequence[str]) -> tuple[str, ...]:
    if len(values) > L.SKILLS_MAX_COUNT:
        raise InvalidPosting(
            RejectReason.TOO_LONG,
            "skills",
            f"skills has {len(values)} entries (max {L.SKILLS_MAX_COUNT})",
        )
    seen: dict[str, None] = {}
    for index, value in enumerate(values):
        seen.setdefault(skill(value, f"skills[{index}]", L.SKILL_MAX_LEN), None)
    return tuple(seen)


def _salary(body: posting_pb2.PostingBody) -> Salary | None:
    if not body.HasField("salary"):
        return None
    salary = body.salary
    for field, value in (("salary.min", salary.min), ("salary.max", salary.max)):
        if not 0 <= value <= L.SALARY_MAX:
            raise InvalidPosting(
                RejectReason.INVALID_FIELD,
                field,
                f"{field} must be between 0 and {L.SALARY_MAX} (got {value})",
            )
    if salary.max == 0:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            "salary.max",
            "salary.max must be greater than 0 (leave salary unset when none is stated)",
        )
    _ordered(salary.min, salary.max, "salary.min", "salary.max")
    currency = _code(salary.currency, "salary.currency", CURRENCY_CODES, 3)
    return Salary(min=salary.min, max=salary.max, currency=currency)


def _posted_at(body: posting_pb2.PostingBody, now: datetime | None) -> datetime:
    if not body.HasField("posted_at"):
        raise InvalidPosting(RejectReason.MISSING_FIELD, "posted_at", "posted_at is missing")
    posted_at = from_timestamp(body.posted_at, "posted_at")
    if now is not None and posted_at > now + L.POSTED_AT_MAX_FUTURE:
        raise InvalidPosting(
            RejectReason.INVALID_FIELD,
            "posted_at",
            f"posted_at {format_iso(posted_at)} is in the future (now is {format_iso(now)}; "
            f"at most {L.POSTED_AT_MAX_FUTURE} ahead is accepted)",
        )
    return posted_at
