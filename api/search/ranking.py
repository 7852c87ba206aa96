"""How a search ranks: by meaning, by the words, or both fused (issue #12).

- ``SEMANTIC``: cosine distance to the query vector, every posting of the query's
  embedding model in order (the search as it was before #12).
- ``KEYWORD``: PostgreSQL full-text search over ``postings.search_tsv`` (title and skills
  weigh most, then company, then description), ``ts_rank_cd``; only postings that
  contain the query's words.
- ``HYBRID``: reciprocal rank fusion of the two, each a window of the best
  ``JOBSTREAM_SEARCH_WINDOW`` postings under the filter: ``w / (60 + semantic rank) +
  (1 - w) / (60 + keyword rank)``, ``w`` = ``semantic_weight``. Chosen over a normalised
  score blend because cosine and ts_rank scales differ per model and per query, while
  ranks do not (tests/bench/bench_relevance.py measures both modes against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from api.search.errors import InvalidQuery
from schemas.search.lexical import MAX_WORDS, query_words

__all__ = ["MAX_WORDS", "Ranking", "SearchMode", "match_floor", "query_words"]

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al. 2009; Elasticsearch's)
DEFAULT_SEMANTIC_WEIGHT = 0.5


# Cosine similarity from which a posting matches a query by meaning, per embedder
# (JOBSTREAM_EMBEDDER), where on the judged set (tests/bench/relevance) few postings
# judged irrelevant pass and most relevant ones do: MiniLM 0.35 keeps 64 % of the
# relevant (query, posting) pairs and 2 % of the others; e5, whose similarities all lie
# high, 0.85 keeps 59 % and 0.5 % (0.80: 97 % and 35 %); hashing 0.2, 48 % and 2.6 %.
MATCH_FLOORS = {"minilm": 0.35, "e5": 0.85, "hash": 0.2}


def match_floor(embedder: str, configured: float | None) -> float:
    """JOBSTREAM_SEMANTIC_MATCH_FLOOR when set, else the embedder's own."""
    return configured if configured is not None else MATCH_FLOORS.get(embedder, 0.5)


class SearchMode(StrEnum):
    HYBRID = "HYBRID"
    SEMANTIC = "SEMANTIC"
    KEYWORD = "KEYWORD"


@dataclass(frozen=True, slots=True)
class Ranking:
    """A mode and, for HYBRID, the share of the semantic ranking in the fusion."""

    mode: SearchMode = SearchMode.SEMANTIC
    semantic_weight: float = DEFAULT_SEMANTIC_WEIGHT

    def __post_init__(self) -> None:
        w = self.semantic_weight
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0.0 <= w <= 1.0:
            raise InvalidQuery(
                "semanticWeight", f"semanticWeight must be between 0 and 1 (got {w!r})"
            )

    @property
    def semantic(self) -> bool:
        return self.mode is not SearchMode.KEYWORD

    @property
    def lexical(self) -> bool:
        return self.mode is not SearchMode.SEMANTIC

    def key(self) -> str:
        """Part of cursor fingerprints and cache keys: what changes the order."""
        if self.mode is SearchMode.HYBRID:
            return f"hybrid:{float(self.semantic_weight)!r}"
        return self.mode.value.lower()
