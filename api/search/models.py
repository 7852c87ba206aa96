"""What the repository returns: plain frozen dataclasses with a JSON form for the caches.

``to_dict()`` output contains only JSON types (str, int, float, bool, None, list, dict),
so L1/L2 caches can store it with ``json.dumps``; ``from_dict`` is its exact inverse.
Embeddings never leave the repository: a view is what a client may see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas.domain import EmploymentType, EnglishLevel, RemoteMode


@dataclass(frozen=True, slots=True)
class PostingView:
    """A live posting as served to clients. Enum fields hold enum *names* ("REMOTE").

    ``city`` may be "" (a country-wide remote job); salary fields are all None when the
    posting states no salary.
    """

    id: str
    version: int
    title: str
    company: str
    city: str
    country_code: str
    remote_mode: str
    employment_type: str
    experience_min_years: int
    experience_max_years: int
    english_level: str
    skills: tuple[str, ...]
    salary_min: int | None
    salary_max: int | None
    salary_currency: str | None
    description: str
    posted_at: datetime
    embedding_model: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "company": self.company,
            "city": self.city,
            "country_code": self.country_code,
            "remote_mode": self.remote_mode,
            "employment_type": self.employment_type,
            "experience_min_years": self.experience_min_years,
            "experience_max_years": self.experience_max_years,
            "english_level": self.english_level,
            "skills": list(self.skills),
            "salary_min": self.salary_min,
            "salary_max": self.salary_max,
            "salary_currency": self.salary_currency,
            "description": self.description,
            "posted_at": self.posted_at.isoformat(),
            "embedding_model": self.embedding_model,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PostingView:
        """Inverse of :meth:`to_dict`; KeyError/ValueError on a foreign shape (cache miss)."""
        return cls(
            id=data["id"],
            version=int(data["version"]),
            title=data["title"],
            company=data["company"],
            city=data["city"],
            country_code=data["country_code"],
            remote_mode=data["remote_mode"],
            employment_type=data["employment_type"],
            experience_min_years=int(data["experience_min_years"]),
            experience_max_years=int(data["experience_max_years"]),
            english_level=data["english_level"],
            skills=tuple(data["skills"]),
            salary_min=data["salary_min"],
            salary_max=data["salary_max"],
            salary_currency=data["salary_currency"],
            description=data["description"],
            posted_at=datetime.fromisoformat(data["posted_at"]),
            embedding_model=data["embedding_model"],
        )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked result: the posting id and its cosine similarity (1 - cosine distance)."""

    posting_id: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"posting_id": self.posting_id, "score": self.score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchHit:
        return cls(posting_id=data["posting_id"], score=float(data["score"]))


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of hits, best first; ``end_cursor`` (None when empty) goes in ``after``."""

    hits: tuple[SearchHit, ...]
    end_cursor: str | None
    has_next_page: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self.hits],
            "end_cursor": self.end_cursor,
            "has_next_page": self.has_next_page,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchPage:
        return cls(
            hits=tuple(SearchHit.from_dict(h) for h in data["hits"]),
            end_cursor=data["end_cursor"],
            has_next_page=bool(data["has_next_page"]),
        )


# Experience facet: buckets of experience_min_years (the entry requirement), closed ranges.
EXPERIENCE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-1", 0, 1),
    ("2-4", 2, 4),
    ("5-9", 5, 9),
    ("10+", 10, None),
)


def experience_bucket(min_years: int) -> str:
    """The facet bucket of a posting, by its ``experience_min_years``."""
    for name, lo, hi in EXPERIENCE_BUCKETS:
        if min_years >= lo and (hi is None or min_years <= hi):
            return name
    raise ValueError(f"negative experience_min_years: {min_years}")


@dataclass(frozen=True, slots=True)
class Facets:
    """Counts of live postings matching a filter, per value of each dimension.

    Every known value is present (zero counts included, in enum order) so a UI can
    render stable checkboxes. ``experience`` buckets the posting's ``experience_min_years``
    into "0-1", "2-4", "5-9", "10+" (see :data:`EXPERIENCE_BUCKETS`). ``skills``: the most
    frequent canonical skills only (aliases counted under their canonical), most first.
    """

    english_level: dict[str, int]
    remote_mode: dict[str, int]
    employment_type: dict[str, int]
    experience: dict[str, int]
    skills: dict[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Facets:
        return cls(
            english_level={m.name: 0 for m in EnglishLevel},
            remote_mode={m.name: 0 for m in RemoteMode},
            employment_type={m.name: 0 for m in EmploymentType},
            experience={name: 0 for name, _, _ in EXPERIENCE_BUCKETS},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "english_level": dict(self.english_level),
            "remote_mode": dict(self.remote_mode),
            "employment_type": dict(self.employment_type),
            "experience": dict(self.experience),
            "skills": dict(self.skills),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Facets:
        return cls(
            english_level={str(k): int(v) for k, v in data["english_level"].items()},
            remote_mode={str(k): int(v) for k, v in data["remote_mode"].items()},
            employment_type={str(k): int(v) for k, v in data["employment_type"].items()},
            experience={str(k): int(v) for k, v in data["experience"].items()},
            # required: an entry cached before the skill facet existed is a miss, reloaded
            skills={str(k): int(v) for k, v in data["skills"].items()},
        )
