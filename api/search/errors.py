"""Errors the search repository raises for bad client input (never for server faults).

Both subclass ``ValueError`` so a caller that only knows "bad input" can catch that; the
GraphQL layer maps them to user errors naming ``field``.
"""

from __future__ import annotations


class InvalidFilter(ValueError):
    """A filter value the search cannot use; ``field`` names the PostingFilter field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidCursor(ValueError):
    """An ``after`` cursor that was not produced by this search (corrupt, edited, other query)."""

    field = "after"

    def __init__(self, message: str) -> None:
        super().__init__(f"after: {message}")
        self.message = message


class InvalidQuery(ValueError):
    """A query vector or page size the search cannot use (wrong dimension, NaN, zero, first<1)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
