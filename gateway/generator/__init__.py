"""Deterministic generator of realistic English job postings (demo data, tests, benchmarks).

``generate(n, seed=..., start=...)`` yields postings in the NDJSON producer format minus
``embedding`` and ``embedding_model``: embed ``embedding_text(posting)`` (or the shorter
``summary_text(posting)``, or ``brief_text(posting)``: title and skills) and add both keys.
The same ``(seed, index)`` always gives the same posting, whatever ``n`` or the process.

Modules: :mod:`~gateway.generator.families` (the role families), :mod:`~.catalog`
(seniority levels, cities, companies, description material), :mod:`~.generate` (one
posting from ``(seed, index)``), :mod:`~.describe` (the description's sentences).
"""

from gateway.generator.catalog import (
    CITIES,
    COUNTRIES,
    LEVELS,
    SENIORITIES,
    City,
    Country,
    Family,
    Seniority,
)
from gateway.generator.families import FAMILIES, ROLE_FAMILIES
from gateway.generator.generate import (
    EMBED_TEXTS,
    REFERENCE_NOW,
    EmbedText,
    brief_text,
    embedding_text,
    family_of,
    generate,
    generate_one,
    posting_id,
    seniority_of,
    summary_text,
)

__all__ = [
    "CITIES",
    "COUNTRIES",
    "EMBED_TEXTS",
    "FAMILIES",
    "LEVELS",
    "REFERENCE_NOW",
    "ROLE_FAMILIES",
    "SENIORITIES",
    "City",
    "Country",
    "EmbedText",
    "Family",
    "Seniority",
    "brief_text",
    "embedding_text",
    "family_of",
    "generate",
    "generate_one",
    "posting_id",
    "seniority_of",
    "summary_text",
]
