"""Test data for the search repository: clustered postings, inserted straight into SQL,
and an independent Python model of the filters to check the database against.

Vectors are clustered (random centres + small noise, normalised) because uniform random
vectors are the pathological case for ANN indexes: recall checks on them say nothing
about real data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import numpy.typing as npt
from pgvector.asyncpg import register_vector

from api.search import PostingFilter
from api.search.models import experience_bucket
from schemas.db.postings import PostingRow
from schemas.search import synonyms

ENGLISH = ("NONE", "BASIC", "CONVERSATIONAL", "BUSINESS", "FLUENT", "NATIVE")
REMOTE = ("ONSITE", "HYBRID", "REMOTE")
EMPLOYMENT = ("FULL_TIME", "PART_TIME", "CONTRACT", "INTERNSHIP")
CITIES = {
    "DE": ("Berlin", "München", "HAMBURG"),
    "PL": ("Warsaw", "kraków"),
    "US": ("New York", "Austin", ""),
    "GB": ("London",),
    "UA": ("Kyiv", "Lviv"),
}
SKILLS = (
    "python", "postgresql", "kafka", "rust", "go", "react", "typescript", "kubernetes",
    "aws", "docker", "c++", "machine learning", "sql", "java", "redis",
)  # fmt: skip
CURRENCIES = ("USD", "EUR", "PLN")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    """One row of ``postings`` as the test inserted it (None content for a tombstone)."""

    id: str
    deleted: bool
    english_level: str = ""
    remote_mode: str = ""
    employment_type: str = ""
    experience_min_years: int = 0
    experience_max_years: int = 0
    country_code: str = ""
    city: str = ""
    skills: tuple[str, ...] = ()
    salary_min: int | None = None
    salary_max: int | None = None
    salary_currency: str | None = None
    posted_at: datetime = EPOCH
    embedding: npt.NDArray[np.float32] | None = None


def clustered(
    rng: np.random.Generator, n: int, dim: int, centres: int, noise: float
) -> npt.NDArray[np.float32]:
    c = rng.normal(size=(centres, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    v = c[rng.integers(0, centres, size=n)] + rng.normal(scale=noise / np.sqrt(dim), size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def make_rows(
    n: int,
    *,
    seed: int,
    dim: int = 384,
    centres: int = 20,
    noise: float = 0.6,
    tombstones: float = 0.05,
    prefix: str = "p",
) -> list[Row]:
    """``n`` postings with varied attributes; ``tombstones`` of them deleted."""
    rng = np.random.default_rng(seed)
    vectors = clustered(rng, n, dim, centres, noise)
    rows: list[Row] = []
    countries = sorted(CITIES)
    for i in range(n):
        pid = f"{prefix}{i:06d}"
        if rng.random() < tombstones:
            rows.append(Row(id=pid, deleted=True))
            continue
        country = countries[int(rng.integers(len(countries)))]
        cities = CITIES[country]
        lo = int(rng.integers(0, 13))
        has_salary = rng.random() < 0.7
        smin = int(rng.integers(20, 150)) * 1000 if has_salary else None
        k = int(rng.integers(1, 6))
        skills = tuple(str(s) for s in rng.choice(SKILLS, size=k, replace=False))
        rows.append(
            Row(
                id=pid,
                deleted=False,
                english_level=ENGLISH[int(rng.integers(len(ENGLISH)))],
                remote_mode=REMOTE[int(rng.integers(len(REMOTE)))],
                employment_type=EMPLOYMENT[int(rng.integers(len(EMPLOYMENT)))],
                experience_min_years=lo,
                experience_max_years=lo + int(rng.integers(0, 6)),
                country_code=country,
                city=cities[int(rng.integers(len(cities)))],
                skills=skills,
                salary_min=smin,
                salary_max=None if smin is None else smin + int(rng.integers(0, 50)) * 1000,
                salary_currency=(
                    None if smin is None else CURRENCIES[int(rng.integers(len(CURRENCIES)))]
                ),
                posted_at=EPOCH + timedelta(minutes=int(rng.integers(0, 365 * 24 * 60))),
                embedding=vectors[i],
            )
        )
    return rows


def _record(r: Row) -> PostingRow:
    if r.deleted:
        return PostingRow(r.id, 2, True)
    return PostingRow(
        id=r.id,
        version=1,
        deleted=False,
        title=f"Job {r.id}",
        company=f"Company {r.id[-2:]}",
        city=r.city,
        country_code=r.country_code,
        remote_mode=r.remote_mode,
        employment_type=r.employment_type,
        experience_min_years=r.experience_min_years,
        experience_max_years=r.experience_max_years,
        english_level=r.english_level,
        skills=r.skills,
        salary_min=r.salary_min,
        salary_max=r.salary_max,
        salary_currency=r.salary_currency,
        description=f"Description of {r.id}",
        posted_at=r.posted_at,
        embedding=r.embedding,  # type: ignore[arg-type]  # pgvector's codec takes the array
        embedding_model="test-model",
    )


async def insert_rows(conn: asyncpg.Connection, rows: list[Row]) -> None:
    """COPY the rows into ``postings`` (binary vectors via pgvector's codec), then ANALYZE."""
    await register_vector(conn)
    await conn.copy_records_to_table(
        "postings", records=[_record(r) for r in rows], columns=PostingRow._fields
    )
    await conn.execute("ANALYZE postings")


def matches(r: Row, f: PostingFilter) -> bool:
    """The filter semantics, written independently of the SQL."""
    if r.deleted:
        return False
    if f.experience_min_years is not None and r.experience_max_years < f.experience_min_years:
        return False
    if f.experience_max_years is not None and r.experience_min_years > f.experience_max_years:
        return False
    if f.english_levels and r.english_level not in {x.upper() for x in f.english_levels}:
        return False
    if f.remote_modes and r.remote_mode not in {x.upper() for x in f.remote_modes}:
        return False
    if f.employment_types and r.employment_type not in {x.upper() for x in f.employment_types}:
        return False
    if f.country_code is not None and r.country_code != f.country_code.upper():
        return False
    if f.city is not None and r.city.lower() != f.city.strip().lower():
        return False
    if f.skills_all and not {_skill(s) for s in f.skills_all} <= set(r.skills):
        return False
    if f.skills_any and not {_skill(s) for s in f.skills_any} & set(r.skills):
        return False
    if f.salary_min is not None and (r.salary_max is None or r.salary_max < f.salary_min):
        return False
    if f.currency is not None and r.salary_currency != f.currency.upper():
        return False
    return not (f.posted_after is not None and r.posted_at <= f.posted_after)


def _skill(text: str) -> str:
    return " ".join(text.lower().split())


def exact_ranking(
    rows: list[Row], query: npt.NDArray[np.float32], f: PostingFilter
) -> list[tuple[str, float]]:
    """(id, cosine distance) of every matching live row, nearest first (numpy, float64)."""
    live = [r for r in rows if matches(r, f)]
    if not live:
        return []
    m = np.stack([r.embedding for r in live if r.embedding is not None]).astype(np.float64)
    q = query.astype(np.float64)
    dist = 1.0 - (m @ q) / (np.linalg.norm(m, axis=1) * np.linalg.norm(q))
    order = sorted(range(len(live)), key=lambda i: (float(dist[i]), live[i].id))
    return [(live[i].id, float(dist[i])) for i in order]


def facet_counts(rows: list[Row], f: PostingFilter) -> dict[str, dict[str, int]]:
    """The facets a filter's postings have; skills the 20 most frequent canonical ones."""
    aliases = synonyms.active()
    skills: Counter[str] = Counter()
    out: dict[str, dict[str, int]] = {
        "english_level": dict.fromkeys(ENGLISH, 0),
        "remote_mode": dict.fromkeys(REMOTE, 0),
        "employment_type": dict.fromkeys(EMPLOYMENT, 0),
        "experience": {"0-1": 0, "2-4": 0, "5-9": 0, "10+": 0},
    }
    for r in rows:
        if matches(r, f):
            out["english_level"][r.english_level] += 1
            out["remote_mode"][r.remote_mode] += 1
            out["employment_type"][r.employment_type] += 1
            out["experience"][experience_bucket(r.experience_min_years)] += 1
            skills.update(aliases.canonical(s) for s in r.skills)
    top = sorted(skills.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    return {**out, "skills": dict(top)}
