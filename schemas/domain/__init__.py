"""The shared domain model of a job posting: types, validation rules and conversions.

- :class:`Posting` (live content at a version) and :class:`PostingDeleted` (tombstone);
  ``PostingEvent`` is their union. :class:`VersionReset` is an operator's command on the
  log (``LogEvent`` is all three): only the sink applies it (:func:`decode_record`).
  Enums mirror the proto names.
- :func:`validate_event` (gateway) and :func:`decode_event` (sink) turn wire events into
  domain events or raise a :class:`PoisonRecord` whose ``error_class`` labels the DLQ.
- :func:`to_proto`, :func:`encode_event`, :func:`to_json`, :func:`from_json`,
  :func:`parse_json` convert between domain events, protos and NDJSON.
- Limits live in :mod:`schemas.domain.limits`, ISO code lists in :mod:`schemas.domain.iso`.

Normalisation (the log should carry this canonical form, so write ``to_proto(event)``):
text fields are trimmed; skills are NFKC + lower case + inner whitespace collapsed and
deduplicated in first-seen order; country and currency codes are upper-cased;
timestamps are UTC with microsecond precision.
"""

from schemas.domain.convert import encode_event, from_json, parse_json, to_json, to_proto
from schemas.domain.errors import (
    InvalidPosting,
    KeyMismatch,
    PoisonRecord,
    RejectReason,
    UndecodableRecord,
)
from schemas.domain.iso import COUNTRY_CODES, CURRENCY_CODES
from schemas.domain.model import (
    EmploymentType,
    EnglishLevel,
    Location,
    LogEvent,
    Posting,
    PostingDeleted,
    PostingEvent,
    RemoteMode,
    Salary,
    VersionReset,
)
from schemas.domain.validate import (
    decode_event,
    decode_record,
    validate_event,
    validate_record,
    version_reset,
)
from schemas.domain.vectors import (
    check_embedding,
    pack_embedding,
    unpack_embedding,
    validate_embedding,
)

__all__ = [
    "COUNTRY_CODES",
    "CURRENCY_CODES",
    "EmploymentType",
    "EnglishLevel",
    "InvalidPosting",
    "KeyMismatch",
    "Location",
    "LogEvent",
    "PoisonRecord",
    "Posting",
    "PostingDeleted",
    "PostingEvent",
    "RejectReason",
    "RemoteMode",
    "Salary",
    "UndecodableRecord",
    "VersionReset",
    "check_embedding",
    "decode_event",
    "decode_record",
    "encode_event",
    "from_json",
    "pack_embedding",
    "parse_json",
    "to_json",
    "to_proto",
    "unpack_embedding",
    "validate_embedding",
    "validate_event",
    "validate_record",
    "version_reset",
]
