"""Errors the search repository raises for bad client input (never for server faults).

All are :class:`~schemas.errors.BadInputError` (so also ``ValueError``): each surface maps
that kind once, naming ``field`` in its own terms. ``str()`` keeps the field in front for
logs; ``message`` is the sentence a client sees.
"""

from __future__ import annotations

from schemas.errors import BadInputError
from schemas.search.filters import InvalidFilter

__all__ = ["InvalidCursor", "InvalidFilter", "InvalidQuery"]


class InvalidCursor(BadInputError):
    """An ``after`` cursor that was not produced by this search (corrupt, edited, other query)."""

    field: str

    def __init__(self, message: str) -> None:
        super().__init__(message, field="after")

    def __str__(self) -> str:
        return f"after: {self.message}"


class InvalidQuery(BadInputError):
    """A query vector or page size the search cannot use (wrong dimension, NaN, zero, first<1)."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"
