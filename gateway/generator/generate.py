"""Turn ``(seed, index)`` into one realistic posting, deterministically.

Each posting draws from its own ``random.Random(f"{seed}:{index}")``: string seeds are
hashed with SHA-512 (never Python's salted ``hash()``), so a posting depends only on its
seed and index -- not on ``n``, ``start``, the order of generation or the process -- and
any slice of a large data set can be regenerated on its own (parallel producers, resumed
benchmarks). ``now`` defaults to the fixed :data:`REFERENCE_NOW`, never the wall clock.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from gateway.generator import catalog as C
from gateway.generator.catalog import City, Country, Family, Seniority
from gateway.generator.describe import describe
from gateway.generator.families import FAMILIES

T = TypeVar("T")

REFERENCE_NOW = datetime(2026, 11, 1, tzinfo=UTC)
"""Default "now": fixed so output is reproducible, and in the past so a gateway that
refuses postings dated in the future never refuses generated ones."""

POSTED_WITHIN = timedelta(days=90)
NO_SALARY_SHARE = 0.20
FOCUS_SHARE = 0.25  # titles like "Senior Backend Engineer, Payments"
GENDERED_SHARE = 0.6  # of postings in DE/AT/CH get "(m/f/d)"
EMBEDDING_MAX_WORDS = 200
SUMMARY_SENTENCES = 3  # intro + duties: what the job is, without pay/benefits boilerplate

_REMOTE_MODES = ("ONSITE", "HYBRID", "REMOTE")
_EMPLOYMENT_TYPES = ("FULL_TIME", "PART_TIME", "CONTRACT")
_ENGLISH = ("NONE", "BASIC", "CONVERSATIONAL", "BUSINESS", "FLUENT", "NATIVE")
_GENDER_SUFFIX = " (m/f/d)"
# "(m/f/d)", "(m/w/d)", "(f/m/x)": legal boilerplate in German-speaking ads, noise to a model.
_GENDER_MARK = re.compile(r"\s*\((?:[mfwdx]/){2}[mfwdx]\)", re.IGNORECASE)


# --- precomputed tables (built once at import; keeps per-posting work small) -------------


@dataclass(frozen=True, slots=True)
class _FamilyPlan:
    family: Family
    levels: tuple[Seniority, ...]
    level_weights: tuple[float, ...]
    titles: dict[str, tuple[str, ...]]
    remote_weights: tuple[int, int, int]
    contract_weights: tuple[int, int, int]
    canonical: dict[str, str]  # display skill -> canonical skill


def _plan(family: Family) -> _FamilyPlan:
    levels = tuple(C.SENIORITY[key] for key in family.levels)
    return _FamilyPlan(
        family=family,
        levels=levels,
        level_weights=tuple(itertools.accumulate(level.weight for level in levels)),
        titles={level.key: family.level_titles(level.key) for level in levels},
        remote_weights=C.REMOTE_PROFILES[family.remote],
        contract_weights=C.CONTRACT_PROFILES[family.contract],
        canonical={s: C.canonical_skill(s) for s in family.core + family.extra},
    )


_PLANS = tuple(_plan(family) for family in FAMILIES)
_PLAN_WEIGHTS = tuple(itertools.accumulate(family.weight for family in FAMILIES))
_CITY_WEIGHTS = tuple(itertools.accumulate(city.weight for city in C.CITIES))


def _title_index() -> dict[str, tuple[str, str]]:
    """Every base title -> (family key, level key); titles must be unambiguous."""
    index: dict[str, tuple[str, str]] = {}
    for plan in _PLANS:
        for level, titles in plan.titles.items():
            for title in titles:
                if title in index or "," in title or "(" in title:
                    raise RuntimeError(f"generator catalog: ambiguous title {title!r}")
                index[title] = (plan.family.key, level)
    return index


TITLE_INDEX = _title_index()


# --- public API ----------------------------------------------------------------------------


def generate(
    n: int, *, seed: int = 0, start: int = 0, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Postings ``start .. start+n-1`` of data set ``seed`` in the NDJSON shape, without
    ``embedding`` / ``embedding_model`` (the caller embeds them). Lazy, so any ``n`` is
    fine; bad arguments raise ValueError here rather than at the first ``next()``."""
    if n < 0 or start < 0:
        raise ValueError(f"n and start must be >= 0 (got n={n}, start={start})")
    reference = _reference(now)
    return (_posting(seed, index, reference) for index in range(start, start + n))


def generate_one(index: int, *, seed: int = 0, now: datetime | None = None) -> dict[str, Any]:
    """Posting ``index`` of data set ``seed`` (equal to the matching item of ``generate``)."""
    if index < 0:
        raise ValueError(f"index must be >= 0 (got {index})")
    return _posting(seed, index, _reference(now))


def posting_id(seed: int, index: int) -> str:
    """The id of posting ``index`` of data set ``seed``."""
    return f"job-{seed}-{index:07d}"


def embedding_text(posting: dict[str, Any]) -> str:
    """The text to embed for a posting: title, skills, then the description.

    Title and skills carry most of the meaning a searcher types ("senior python backend
    engineer"), so they come first and survive MiniLM's 256-token truncation; the
    description adds context. Company, location, salary and the enums are left out: they
    are filtered on exactly, and fictional company names would only add noise that pulls
    similar roles apart. Generated texts run ~70-160 words; anything longer is cut to
    :data:`EMBEDDING_MAX_WORDS` words so truncation rarely bites and never drops the title.
    """
    parts = [_GENDER_MARK.sub("", str(posting.get("title") or "")).strip()]
    skills = posting.get("skills") or []
    if skills:
        parts.append("Skills: " + ", ".join(str(s) for s in skills))
    description = str(posting.get("description") or "").strip()
    text = ". ".join(part for part in parts if part)
    if description:
        text = f"{text}. {description}" if text else description
    words = text.split()
    if len(words) > EMBEDDING_MAX_WORDS:
        return " ".join(words[:EMBEDDING_MAX_WORDS])
    return " ".join(words)


def summary_text(posting: dict[str, Any], sentences: int = SUMMARY_SENTENCES) -> str:
    """A shorter text to embed: title, skills and the description's first sentences.

    The first three sentences are the intro (role, team) and the duties; what follows --
    requirements restating the skills, work mode, pay, benefits, a closing line -- adds
    little meaning and most of the tokens. MiniLM's cost grows with tokens: on 2 cores
    this embeds ~70 generated postings/s against ~37-50/s for :func:`embedding_text`,
    which is what ``make demo`` uses it for (``jobstream produce --embed-text summary``).
    Generated sentences never contain an inner ". ", so the split is exact.
    """
    parts = str(posting.get("description") or "").strip().split(". ")
    first = ". ".join(parts[:sentences])
    if len(parts) > sentences:
        first += "."
    return embedding_text({**posting, "description": first})


def brief_text(posting: dict[str, Any]) -> str:
    """The shortest text to embed: title and skills, no description.

    multilingual-e5-small reads ~35 tokens of it against ~90 for :func:`summary_text`
    and runs about three times as fast, which is what lets ``make demo`` embed 10,000
    postings with it on 2 cores; the description is still searched by its words (hybrid
    ranking), and the judged relevance set says what the vectors lose
    (``bench_relevance.py --embed-text brief``).
    """
    return embedding_text({**posting, "description": ""})


EmbedText = Callable[[dict[str, Any]], str]
EMBED_TEXTS: dict[str, EmbedText] = {
    "full": embedding_text,
    "summary": summary_text,
    "brief": brief_text,
}
"""What ``jobstream produce --embed-text`` may embed, by name."""


def family_of(posting: dict[str, Any]) -> str:
    """The role family key of a generated posting, read back from its title."""
    return _classify(posting)[0]


def seniority_of(posting: dict[str, Any]) -> str:
    """The seniority level key (``intern`` .. ``principal``) of a generated posting."""
    return _classify(posting)[1]


def _classify(posting: dict[str, Any]) -> tuple[str, str]:
    title = _GENDER_MARK.sub("", str(posting.get("title", ""))).split(", ")[0].strip()
    try:
        return TITLE_INDEX[title]
    except KeyError:
        raise ValueError(f"title {title!r} is not one the generator produces") from None


# --- one posting ---------------------------------------------------------------------------


def _reference(now: datetime | None) -> datetime:
    if now is None:
        return REFERENCE_NOW
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(UTC))")
    return now.astimezone(UTC)


def _pick(rng: random.Random, items: Sequence[T], cum_weights: Sequence[float]) -> T:
    return rng.choices(items, cum_weights=cum_weights)[0]


def _posting(seed: int, index: int, now: datetime) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{index}")
    plan = _pick(rng, _PLANS, _PLAN_WEIGHTS)
    family = plan.family
    level = _pick(rng, plan.levels, plan.level_weights)
    city = _pick(rng, C.CITIES, _CITY_WEIGHTS)
    country = C.COUNTRY[city.country]
    sector = rng.choice(family.sectors)
    company = rng.choice(C.COMPANIES[sector])
    team = rng.choice(family.teams)

    base_title = rng.choice(plan.titles[level.key])
    title = f"{base_title}, {team}" if rng.random() < FOCUS_SHARE else base_title
    if country.gendered_titles and rng.random() < GENDERED_SHARE:
        title += _GENDER_SUFFIX

    intern = level.key == "intern"
    employment = _employment(rng, plan, intern)
    remote_weights = plan.remote_weights
    if intern:  # interns are mostly expected in the office
        remote_weights = (remote_weights[0] * 2, remote_weights[1], remote_weights[2] // 2)
    remote = rng.choices(_REMOTE_MODES, weights=remote_weights)[0]

    years_min = rng.randint(*level.min_years)
    years_max = years_min + rng.randint(*level.span_years)
    english = _english(rng, country, family, level, remote)

    n_core = rng.randint(min(2, len(family.core)), min(4, len(family.core)))
    core = rng.sample(family.core, n_core)
    extra = rng.sample(family.extra, rng.randint(1, min(5, len(family.extra))))
    skills = [plan.canonical[s] for s in core + extra]

    salary = None if rng.random() < NO_SALARY_SHARE else _salary(rng, family, level, country, city)
    description = describe(
        rng,
        family=family,
        sector=sector,
        company=company,
        team=team,
        title=base_title,
        city=city,
        country=country,
        remote=remote,
        employment=employment,
        english=english,
        years=(years_min, years_max),
        core=core,
        extra=extra,
        salary=salary,
        intern=intern,
    )
    posted_at = now - timedelta(seconds=rng.randrange(int(POSTED_WITHIN.total_seconds())))
    return {
        "id": posting_id(seed, index),
        "version": 1,
        "title": title,
        "company": company,
        "location": {"city": city.name, "country_code": country.code},
        "remote_mode": remote,
        "employment_type": employment,
        "experience_min_years": years_min,
        "experience_max_years": years_max,
        "english_level": _ENGLISH[english - 1],
        "skills": skills,
        "salary": salary,
        "description": description,
        "posted_at": posted_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _employment(rng: random.Random, plan: _FamilyPlan, intern: bool) -> str:
    if intern:
        roll = rng.random()
        return "INTERNSHIP" if roll < 0.9 else "PART_TIME" if roll < 0.95 else "FULL_TIME"
    return rng.choices(_EMPLOYMENT_TYPES, weights=plan.contract_weights)[0]


def _english(
    rng: random.Random, country: Country, family: Family, level: Seniority, remote: str
) -> int:
    """EnglishLevel value: English-speaking countries ask for FLUENT/NATIVE; elsewhere the
    country's norm, raised for senior, remote and international (tech) roles."""
    if country.english == 6:
        return 6 if rng.random() < 0.3 else 5
    value = country.english + family.english_shift + level.english_shift
    value += (remote == "REMOTE") + rng.choices((-1, 0, 1), weights=(2, 6, 2))[0]
    return max(1, min(5, value))


def _salary(
    rng: random.Random, family: Family, level: Seniority, country: Country, city: City
) -> dict[str, Any]:
    """Annual full-time-equivalent range in local currency, rounded like real ads."""
    amount = family.base_usd * level.pay * country.pay * city.pay * rng.uniform(0.92, 1.08)
    low = _round_money(amount)
    high = _round_money(amount * rng.uniform(1.12, 1.4))
    if high <= low:
        high = low + _money_step(low)
    return {"min": low, "max": high, "currency": country.currency}


def _money_step(value: float) -> int:
    """Half a unit of the third significant digit: 61,234 -> 500; 8,234,567 -> 50,000."""
    digits = int(math.log10(max(value, 1.0))) + 1
    return 5 * int(10 ** max(0, digits - 3))


def _round_money(value: float) -> int:
    step = _money_step(value)
    return max(step, round(value / step) * step)
