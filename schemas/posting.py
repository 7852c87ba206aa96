"""Stable import path for the posting domain model; the code lives in :mod:`schemas.domain`.

``from schemas.posting import Posting, validate_event`` and
``from schemas.domain import ...`` are the same objects. Limits are in :mod:`schemas.domain.limits`.
"""

from schemas.domain import *  # noqa: F403
from schemas.domain import __all__ as __all__
