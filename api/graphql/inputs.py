"""GraphQL inputs: the search filter and a posting to publish, and their mapping.

The filter maps 1:1 onto :class:`api.search.PostingFilter` (enum names as strings); the
posting maps onto the NDJSON shape :func:`schemas.domain.parse_json` validates, so the
API applies exactly the gateway's rules.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import strawberry

from api.graphql.types import Long
from api.search import PostingFilter
from schemas.domain import EmploymentType, EnglishLevel, RemoteMode


def _names(values: list[Any] | None) -> tuple[str, ...]:
    return tuple(v.name for v in values or ())


def _aware(value: datetime | None) -> datetime | None:
    """A naive timestamp is read as UTC (the filter compares instants)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@strawberry.input(name="PostingFilter", description="All given conditions must hold.")
class PostingFilterInput:
    experience_min_years: int | None = strawberry.field(
        default=None,
        description=(
            "Lower end of your years of experience: postings whose [min, max] years"
            " range overlaps [experienceMinYears, experienceMaxYears] match."
        ),
    )
    experience_max_years: int | None = strawberry.field(
        default=None,
        description="Upper end of the years of experience you have (see experienceMinYears).",
    )
    english_levels: list[EnglishLevel] | None = strawberry.field(
        default=None, description="Any of these English levels."
    )
    remote_modes: list[RemoteMode] | None = None
    employment_types: list[EmploymentType] | None = None
    country_code: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")
    city: str | None = None
    skills_all: list[str] | None = strawberry.field(default=None, description="Every one of.")
    skills_any: list[str] | None = strawberry.field(default=None, description="At least one of.")
    salary_min: Long | None = strawberry.field(
        default=None, description="Salary range reaching at least this (with currency)."
    )
    currency: str | None = strawberry.field(default=None, description="ISO 4217.")
    posted_after: datetime | None = None

    def to_filter(self) -> PostingFilter:
        return PostingFilter(
            experience_min_years=self.experience_min_years,
            experience_max_years=self.experience_max_years,
            english_levels=_names(self.english_levels),
            remote_modes=_names(self.remote_modes),
            employment_types=_names(self.employment_types),
            country_code=self.country_code,
            city=self.city,
            skills_all=tuple(self.skills_all or ()),
            skills_any=tuple(self.skills_any or ()),
            salary_min=self.salary_min,
            currency=self.currency,
            posted_after=_aware(self.posted_after),
        )


def to_filter(value: PostingFilterInput | None) -> PostingFilter:
    return PostingFilter() if value is None else value.to_filter()


@strawberry.input(name="SalaryInput")
class SalaryInput:
    min: Long
    max: Long
    currency: str


@strawberry.input(
    name="PostingInput",
    description="A posting at a version (higher versions replace lower ones). Without "
    "`embedding` the API embeds title, skills and description with its own model.",
)
class PostingInput:
    id: strawberry.ID
    version: Long
    title: str
    company: str
    country_code: str
    remote_mode: RemoteMode
    employment_type: EmploymentType
    experience_min_years: int
    experience_max_years: int
    english_level: EnglishLevel
    city: str = ""
    skills: list[str] = strawberry.field(default_factory=list)
    salary: SalaryInput | None = None
    description: str = ""
    posted_at: datetime | None = strawberry.field(
        default=None, description="Defaults to now; at most a day ahead."
    )
    embedding: list[float] | None = strawberry.field(
        default=None, description="The posting's vector; requires embeddingModel."
    )
    embedding_model: str | None = strawberry.field(
        default=None, description="Model of `embedding` (vectors of different models never mix)."
    )


EMBEDDING_MAX_WORDS = 200


def embedding_text(title: str, skills: list[str], description: str) -> str:
    """Title, then skills, then description -- the order the producers embed in, so the
    API's vectors sit among theirs; cut to 200 words so the title survives truncation."""
    parts = [title.strip()]
    if skills:
        parts.append("Skills: " + ", ".join(skills))
    text = ". ".join(part for part in parts if part)
    description = description.strip()
    if description:
        text = f"{text}. {description}" if text else description
    words = text.split()
    return " ".join(words[:EMBEDDING_MAX_WORDS])


def posting_json(
    value: PostingInput, *, embedding: list[float], embedding_model: str, now: datetime
) -> dict[str, Any]:
    """The NDJSON object of this input, as ``schemas.domain.parse_json`` reads it."""
    posted_at = _aware(value.posted_at) or now
    return {
        "id": str(value.id),
        "version": value.version,
        "title": value.title,
        "company": value.company,
        "location": {"city": value.city, "country_code": value.country_code},
        "remote_mode": value.remote_mode.name,
        "employment_type": value.employment_type.name,
        "experience_min_years": value.experience_min_years,
        "experience_max_years": value.experience_max_years,
        "english_level": value.english_level.name,
        "skills": list(value.skills),
        "salary": None
        if value.salary is None
        else {
            "min": value.salary.min,
            "max": value.salary.max,
            "currency": value.salary.currency,
        },
        "description": value.description,
        "posted_at": posted_at.isoformat(),
        "embedding": embedding,
        "embedding_model": embedding_model,
        "produced_at": now.isoformat(),
        "producer_id": "api",
    }


_CAMEL = re.compile(r"_([a-z])")


def input_field(domain_field: str) -> str:
    """The PostingInput path of a domain field name: ``location.country_code`` ->
    ``countryCode``, ``salary.min`` -> ``salary.min``, ``skills[2]`` -> ``skills[2]``."""
    if domain_field.startswith("location."):
        domain_field = domain_field.removeprefix("location.")
    return _CAMEL.sub(lambda m: m.group(1).upper(), domain_field)
