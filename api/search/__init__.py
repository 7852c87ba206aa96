"""The search repository: the API's only way into the postings read model.

Imports only from :mod:`schemas`; the contract with the sink is the ``postings`` and
``vector_index`` tables. See :mod:`api.search.repository` for the search strategy.
"""

from api.search.errors import InvalidCursor, InvalidFilter, InvalidQuery
from api.search.models import EXPERIENCE_BUCKETS, Facets, PostingView, SearchHit, SearchPage
from api.search.repository import MAX_FIRST, PostingRepository, SearchStats
from schemas.search.filters import PostingFilter

__all__ = [
    "EXPERIENCE_BUCKETS",
    "MAX_FIRST",
    "Facets",
    "InvalidCursor",
    "InvalidFilter",
    "InvalidQuery",
    "PostingFilter",
    "PostingRepository",
    "PostingView",
    "SearchHit",
    "SearchPage",
    "SearchStats",
]
