"""The domain types every service shares: a live :class:`Posting` or a :class:`PostingDeleted`.

Frozen, slotted stdlib dataclasses rather than msgspec Structs: the wire format is
protobuf (msgspec would add a second serialisation nobody uses), a numpy embedding needs
custom hooks in msgspec but is just a field here, and dataclasses are hashable,
comparable and fully understood by mypy strict.

Instances are built by :func:`schemas.domain.validate_event` (or ``decode_event`` /
``parse_json``), which checks every rule; the constructor itself only normalises
representation (embedding to read-only little-endian float32, timestamps to UTC) so
that rows already validated, e.g. read back from Postgres, are cheap to rebuild.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from schemas.domain.vectors import as_embedding


class RemoteMode(enum.Enum):
    """Where the work happens. Values are the proto numbers."""

    ONSITE = 1
    HYBRID = 2
    REMOTE = 3


class EmploymentType(enum.Enum):
    """Kind of contract. Values are the proto numbers."""

    FULL_TIME = 1
    PART_TIME = 2
    CONTRACT = 3
    INTERNSHIP = 4


class EnglishLevel(enum.Enum):
    """Required English. Values are the proto numbers and increase with proficiency, so
    ``level.value >= EnglishLevel.BUSINESS.value`` means "at least BUSINESS"."""

    NONE = 1
    BASIC = 2
    CONVERSATIONAL = 3
    BUSINESS = 4
    FLUENT = 5
    NATIVE = 6


@dataclass(frozen=True, slots=True)
class Location:
    """City (may be empty, e.g. for a country-wide remote job) and ISO 3166-1 alpha-2 code."""

    city: str
    country_code: str


@dataclass(frozen=True, slots=True)
class Salary:
    """Stated salary range in whole units of an ISO 4217 currency; ``min <= max``."""

    min: int
    max: int
    currency: str


@dataclass(frozen=True, slots=True)
class Posting:
    """A live posting at one version: the full content, as the read model stores it.

    ``embedding`` is a read-only float32 vector; ``embedding_bytes`` is the same vector
    packed little-endian (what the proto carries). Equality and hashing use the bytes.
    ``skills`` are normalised: lower case, whitespace collapsed, deduplicated in order.
    """

    id: str
    version: int
    title: str
    company: str
    location: Location
    remote_mode: RemoteMode
    employment_type: EmploymentType
    experience_min_years: int
    experience_max_years: int
    english_level: EnglishLevel
    skills: tuple[str, ...]
    salary: Salary | None
    description: str
    posted_at: datetime
    embedding: npt.NDArray[np.float32] = field(compare=False, repr=False)
    embedding_model: str
    produced_at: datetime | None = None
    producer_id: str = ""
    embedding_bytes: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        vector, packed = as_embedding(self.embedding)
        object.__setattr__(self, "embedding", vector)
        object.__setattr__(self, "embedding_bytes", packed)
        object.__setattr__(self, "skills", tuple(self.skills))
        object.__setattr__(self, "posted_at", _utc(self.posted_at, "posted_at"))
        if self.produced_at is not None:
            object.__setattr__(self, "produced_at", _utc(self.produced_at, "produced_at"))

    @property
    def deleted(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class PostingDeleted:
    """A tombstone: the posting ``id`` is deleted as of ``version`` (highest version wins)."""

    id: str
    version: int
    produced_at: datetime | None = None
    producer_id: str = ""

    def __post_init__(self) -> None:
        if self.produced_at is not None:
            object.__setattr__(self, "produced_at", _utc(self.produced_at, "produced_at"))

    @property
    def deleted(self) -> bool:
        return True


PostingEvent: TypeAlias = Posting | PostingDeleted


@dataclass(frozen=True, slots=True)
class VersionReset:
    """An operator's command on the log: posting ``id``'s row takes ``version`` whatever its
    current one (content and deleted flag unchanged), so a runaway version can be undone.

    The one exception to "highest version wins" (invariant 4, docs/architecture.md): only
    the sink applies it, in log order; the gateway and ``publishPosting`` refuse it.
    """

    id: str
    version: int
    produced_at: datetime | None = None
    producer_id: str = ""

    def __post_init__(self) -> None:
        if self.produced_at is not None:
            object.__setattr__(self, "produced_at", _utc(self.produced_at, "produced_at"))


LogEvent: TypeAlias = Posting | PostingDeleted | VersionReset


def _utc(value: datetime, name: str) -> datetime:
    """Naive datetimes are ambiguous across machines, so they are refused outright."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)
