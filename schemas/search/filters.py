"""What a search may be restricted to: :class:`PostingFilter`, validated and canonical.

In schemas because a search (api) and a saved search's alert matching (streams) must
mean the same thing by it.

A filter arrives from GraphQL arguments, so every value is checked here with a message
naming the field (:class:`InvalidFilter`), and normalised the way the sink stores the
columns: enum *names*, upper-case ISO codes, skills in the canonical form of
:func:`schemas.domain.text.skill` and then of the skill alias table
(:mod:`schemas.search.synonyms`: "k8s" is "kubernetes"). :meth:`PostingFilter.normalized`
is that canonical form; the SQL and the cache key are both built from it, so two filters
that mean the same thing ("Python" vs "python", "K8s" vs "kubernetes", skills in another
order) share one cache entry. The key carries the alias table's version, since what a
skill matches depends on it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from schemas.domain import COUNTRY_CODES, CURRENCY_CODES, EmploymentType, EnglishLevel, RemoteMode
from schemas.domain import limits as L
from schemas.domain.errors import InvalidPosting
from schemas.domain.text import line, skill
from schemas.errors import BadInputError
from schemas.search import synonyms

_TUPLE_FIELDS = ("english_levels", "remote_modes", "employment_types", "skills_all", "skills_any")
_CACHE_KEY_VERSION = 1


class InvalidFilter(BadInputError):
    """A filter value the search cannot use; ``field`` names the PostingFilter field."""

    argument = "filter"
    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class PostingFilter:
    """Restrictions on a search; every field is optional and empty tuples mean "any".

    - ``experience_min_years``/``experience_max_years``: the posting's [min, max] range
      overlaps the asked range (an open end is unbounded).
    - ``english_levels``/``remote_modes``/``employment_types``: enum names, any of them.
    - ``country_code``: ISO 3166-1 alpha-2; ``city``: case-insensitive exact match.
    - ``skills_all``: the posting has every one; ``skills_any``: it has at least one; a
      skill matches any spelling of its alias group ("k8s" finds "kubernetes").
    - ``salary_min``: the posting states a salary whose max is >= this (no salary: no match).
    - ``currency``: the posting's salary is in this ISO 4217 currency.
    - ``posted_after``: posted strictly after this instant (timezone-aware).
    """

    experience_min_years: int | None = None
    experience_max_years: int | None = None
    english_levels: tuple[str, ...] = ()
    remote_modes: tuple[str, ...] = ()
    employment_types: tuple[str, ...] = ()
    country_code: str | None = None
    city: str | None = None
    skills_all: tuple[str, ...] = ()
    skills_any: tuple[str, ...] = ()
    salary_min: int | None = None
    currency: str | None = None
    posted_after: datetime | None = None

    def __post_init__(self) -> None:
        # Callers (GraphQL resolvers) naturally pass lists; a frozen dataclass must stay
        # hashable, and a lone string must not become a tuple of characters.
        for name in _TUPLE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif not isinstance(value, tuple):
                # not iterable: left as is, validate() reports it with the field's name
                with contextlib.suppress(TypeError):
                    object.__setattr__(self, name, tuple(value))

    def validate(self) -> None:
        """Raise :class:`InvalidFilter` naming the first bad field; return None if usable."""
        self.normalized()

    def normalized(self) -> PostingFilter:
        """The canonical equivalent of this filter (sets sorted and deduplicated, codes
        upper-case, skills canonical, times UTC); raises :class:`InvalidFilter`."""
        lo = _years(self.experience_min_years, "experience_min_years")
        hi = _years(self.experience_max_years, "experience_max_years")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidFilter(
                "experience_min_years",
                f"experience_min_years ({lo}) is greater than experience_max_years ({hi})",
            )
        return replace(
            self,
            experience_min_years=lo,
            experience_max_years=hi,
            english_levels=_enum_names(self.english_levels, EnglishLevel, "english_levels"),
            remote_modes=_enum_names(self.remote_modes, RemoteMode, "remote_modes"),
            employment_types=_enum_names(self.employment_types, EmploymentType, "employment_types"),
            country_code=_code(self.country_code, COUNTRY_CODES, "country_code", 2),
            city=_city(self.city),
            skills_all=_skills(self.skills_all, "skills_all"),
            skills_any=_skills(self.skills_any, "skills_any"),
            salary_min=_salary(self.salary_min),
            currency=_code(self.currency, CURRENCY_CODES, "currency", 3),
            posted_after=_instant(self.posted_after),
        )

    @property
    def is_empty(self) -> bool:
        """True when the filter restricts nothing (every posting matches)."""
        return all(getattr(self, f.name) in (None, ()) for f in fields(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the canonical filter (None and empty fields left out)."""
        canonical = self.normalized()
        out: dict[str, Any] = {}
        for f in fields(canonical):
            value = getattr(canonical, f.name)
            if value is None or value == ():
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def cache_key(self) -> str:
        """A canonical string: equal for filters that mean the same, whatever the order of
        set members or the case of codes/skills; raises InvalidFilter for a bad filter."""
        body = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f"f{_CACHE_KEY_VERSION}:{synonyms.active().version}:{body}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _years(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value):
        raise InvalidFilter(field, f"{field} must be a whole number of years (got {value!r})")
    if not L.EXPERIENCE_MIN_YEARS <= value <= L.EXPERIENCE_MAX_YEARS:
        raise InvalidFilter(
            field,
            f"{field} must be between {L.EXPERIENCE_MIN_YEARS} and {L.EXPERIENCE_MAX_YEARS}"
            f" (got {value})",
        )
    return value


def _enum_names(values: object, enum: type[Enum], field: str) -> tuple[str, ...]:
    if not isinstance(values, tuple):
        raise InvalidFilter(field, f"{field} must be a list of names (got {values!r})")
    known = [m.name for m in enum]
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or value.strip().upper() not in known:
            raise InvalidFilter(
                field, f"unknown {field} value {value!r}; expected one of {', '.join(known)}"
            )
        seen.add(value.strip().upper())
    return tuple(name for name in known if name in seen)  # enum order: stable and readable


def _code(value: str | None, allowed: frozenset[str], field: str, size: int) -> str | None:
    if value is None:
        return None
    code = value.strip().upper() if isinstance(value, str) else None
    if code is None or code not in allowed:
        kind = "ISO 3166-1 alpha-2 country" if size == 2 else "ISO 4217 currency"
        raise InvalidFilter(field, f"{field} must be an {kind} code (got {value!r})")
    return code


def _city(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidFilter("city", f"city must be text (got {value!r})")
    try:
        city = line(value, "city", L.CITY_MAX_LEN, required=True)
    except InvalidPosting as exc:
        raise InvalidFilter("city", exc.message) from None
    return city.lower()


def _skills(values: object, field: str) -> tuple[str, ...]:
    if not isinstance(values, tuple):
        raise InvalidFilter(field, f"{field} must be a list of skills (got {values!r})")
    if len(values) > L.SKILLS_MAX_COUNT:
        raise InvalidFilter(
            field, f"too many {field}: {len(values)} (at most {L.SKILLS_MAX_COUNT})"
        )
    out: set[str] = set()
    for value in values:
        if not isinstance(value, str):
            raise InvalidFilter(field, f"{field} must contain text (got {value!r})")
        try:
            out.add(synonyms.canonical(skill(value, field, L.SKILL_MAX_LEN)))
        except InvalidPosting as exc:
            raise InvalidFilter(field, exc.message) from None
    return tuple(sorted(out))


def _salary(value: int | None) -> int | None:
    if value is None:
        return None
    if not _is_int(value):
        raise InvalidFilter("salary_min", f"salary_min must be a whole number (got {value!r})")
    if not 0 <= value <= L.SALARY_MAX:
        raise InvalidFilter(
            "salary_min", f"salary_min must be between 0 and {L.SALARY_MAX} (got {value})"
        )
    return value


def _instant(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidFilter("posted_after", f"posted_after must be a datetime (got {value!r})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidFilter(
            "posted_after",
            f"posted_after must be timezone-aware (got naive {value.isoformat()})",
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is in year 0 in UTC, which Python lacks
        raise InvalidFilter(
            "posted_after",
            f"posted_after {value.isoformat()} is outside the years 1-9999 in UTC",
        ) from None
