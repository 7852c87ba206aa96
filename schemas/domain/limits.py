"""The limits a posting must respect, named once so the gateway, sink, API and tests agree.

Lengths count Unicode code points (Python ``len``), after trimming surrounding whitespace.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

ID_MAX_LEN: Final = 128
ID_PATTERN: Final = re.compile(rf"[A-Za-z0-9._:-]{{1,{ID_MAX_LEN}}}", re.ASCII)  # fullmatch

VERSION_MIN: Final = 1
INT64_MAX: Final = 2**63 - 1
UINT32_MAX: Final = 2**32 - 1

TITLE_MAX_LEN: Final = 300
COMPANY_MAX_LEN: Final = 200
CITY_MAX_LEN: Final = 100
DESCRIPTION_MAX_LEN: Final = 20_000
EMBEDDING_MODEL_MAX_LEN: Final = 200

# Euclidean norm of an embedding (computed in float64). Real models give norms near 1
# (normalised) or in the tens to hundreds; the bounds leave six orders of magnitude
# either way yet stay far from float32's limits: a norm of 1e-19 underflows when squared
# (pgvector's norm is float32: 384 x 1e-30 ranks first for every query), one of 1.8e19
# overflows (NaN scores). Vectors are stored unit-normalised; one within
# EMBEDDING_UNIT_TOLERANCE of 1 is kept as it is, so normalising is idempotent.
EMBEDDING_NORM_MIN: Final = 1e-6
EMBEDDING_NORM_MAX: Final = 1e6
EMBEDDING_UNIT_TOLERANCE: Final = 1e-6
PRODUCER_ID_MAX_LEN: Final = 200

SKILLS_MAX_COUNT: Final = 50
SKILL_MAX_LEN: Final = 64

EXPERIENCE_MIN_YEARS: Final = 0
EXPERIENCE_MAX_YEARS: Final = 50

# Whole currency units; 10^12 is far above any real salary yet far below int64 overflow.
SALARY_MAX: Final = 10**12

# Static bounds keep validation deterministic on replay; the gateway may pass ``now`` to
# also reject postings dated more than POSTED_AT_MAX_FUTURE ahead of its clock.
POSTED_AT_MIN: Final = datetime(1970, 1, 1, tzinfo=UTC)
POSTED_AT_MAX: Final = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
POSTED_AT_MAX_FUTURE: Final = timedelta(days=1)
