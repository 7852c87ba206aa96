"""Ranking metrics over graded judgments: nDCG@k, reciprocal rank and success@k.

Pure functions, so a known ranking gives known numbers (tests/unit/test_relevance_metrics.py).
A ranking is the list of posting ids a search returned, best first; judgments map ids to
grades (3 = exactly what was asked, 2 = relevant, 1 = partially relevant); an id that is
not judged counts as grade 0. "Relevant" for MRR and success means grade >= 2, so a
partially relevant posting at rank 1 does not count as the query answered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

K = 10
RELEVANT = 2  # the lowest grade MRR and success@k accept


def gain(grade: int) -> float:
    """Exponential gain: a grade-3 posting is worth more than two grade-2 ones (7 vs 3 + 3)."""
    return float(2**grade - 1)


def dcg(grades: Sequence[int], k: int = K) -> float:
    """Discounted cumulative gain of the first ``k`` grades (log2 discount, rank 1 undiscounted)."""
    return sum(gain(g) / math.log2(rank + 1) for rank, g in enumerate(grades[:k], start=1))


def ndcg(ranking: Sequence[str], judgments: Mapping[str, int], k: int = K) -> float:
    """DCG@k of ``ranking`` over the ideal DCG@k from all judged grades (0 when none is > 0)."""
    ideal = dcg(sorted(judgments.values(), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg([judgments.get(pid, 0) for pid in ranking], k) / ideal


def reciprocal_rank(
    ranking: Sequence[str], judgments: Mapping[str, int], min_grade: int = RELEVANT
) -> float:
    """1 / the rank of the first posting graded ``min_grade`` or more; 0 if none is returned."""
    for rank, pid in enumerate(ranking, start=1):
        if judgments.get(pid, 0) >= min_grade:
            return 1.0 / rank
    return 0.0


def success(
    ranking: Sequence[str], judgments: Mapping[str, int], k: int = K, min_grade: int = RELEVANT
) -> float:
    """1.0 when any of the first ``k`` postings is graded ``min_grade`` or more, else 0.0."""
    return 1.0 if any(judgments.get(pid, 0) >= min_grade for pid in ranking[:k]) else 0.0


@dataclass(frozen=True, slots=True)
class Scores:
    """One query's scores, or a set's means (``queries`` says how many were averaged)."""

    ndcg: float
    mrr: float
    success: float
    queries: int = 1

    def as_dict(self) -> dict[str, float | int]:
        return {
            f"ndcg@{K}": round(self.ndcg, 4),
            "mrr": round(self.mrr, 4),
            f"success@{K}": round(self.success, 4),
            "queries": self.queries,
        }


def score(ranking: Sequence[str], judgments: Mapping[str, int], k: int = K) -> Scores:
    """nDCG@k, reciprocal rank and success@k of one ranking."""
    return Scores(
        ndcg(ranking, judgments, k),
        reciprocal_rank(ranking, judgments),
        success(ranking, judgments, k),
    )


def mean(scores: Iterable[Scores]) -> Scores:
    """The per-metric mean over queries (MRR is the mean of reciprocal ranks)."""
    items = list(scores)
    if not items:
        raise ValueError("no queries to average")
    n = len(items)
    return Scores(
        sum(s.ndcg for s in items) / n,
        sum(s.mrr for s in items) / n,
        sum(s.success for s in items) / n,
        n,
    )
