"""The relevance bench's metrics on known rankings, and the judged set's soundness."""

from __future__ import annotations

import math

import pytest

from schemas.domain import from_json
from tests.bench.relevance import judged
from tests.bench.relevance.metrics import Scores, dcg, mean, ndcg, reciprocal_rank, score, success

JUDGED = {"a": 3, "b": 2, "c": 1}


def test_dcg_uses_exponential_gain_and_log2_discount() -> None:
    assert dcg([3, 2, 1]) == pytest.approx(7 + 3 / math.log2(3) + 1 / 2)
    assert dcg([0, 3]) == pytest.approx(7 / math.log2(3))
    assert dcg([1] * 12, k=10) == pytest.approx(sum(1 / math.log2(r + 1) for r in range(1, 11)))


def test_ndcg_is_one_for_the_ideal_order_and_known_otherwise() -> None:
    assert ndcg(["a", "b", "c", "x"], JUDGED) == pytest.approx(1.0)
    ideal = 7 + 3 / math.log2(3) + 1 / 2
    # c, x, a: 1 at rank 1, nothing at 2, 7 at rank 3
    assert ndcg(["c", "x", "a"], JUDGED) == pytest.approx((1 + 7 / 2) / ideal)
    assert ndcg(["x", "y"], JUDGED) == 0.0
    assert ndcg([], JUDGED) == 0.0
    assert ndcg(["a"], {}) == 0.0


def test_ndcg_counts_only_the_first_k() -> None:
    ranking = [f"x{i}" for i in range(10)] + ["a"]
    assert ndcg(ranking, JUDGED) == 0.0
    assert ndcg(ranking, JUDGED, k=11) > 0.0


def test_reciprocal_rank_needs_a_relevant_posting() -> None:
    assert reciprocal_rank(["c", "x", "b", "a"], JUDGED) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a"], JUDGED) == 1.0
    assert reciprocal_rank(["c", "x"], JUDGED) == 0.0  # grade 1 does not answer the query
    assert reciprocal_rank(["c"], JUDGED, min_grade=1) == 1.0


def test_success_at_k() -> None:
    assert success(["x"] * 9 + ["b"], JUDGED) == 1.0
    assert success(["x"] * 10 + ["b"], JUDGED) == 0.0
    assert success(["c"], JUDGED) == 0.0


def test_score_and_mean() -> None:
    one = score(["c", "x", "b"], JUDGED)
    assert one.mrr == pytest.approx(1 / 3)
    assert one.success == 1.0
    both = mean([one, Scores(1.0, 1.0, 1.0)])
    assert both.queries == 2
    assert both.mrr == pytest.approx((1 / 3 + 1) / 2)
    assert both.ndcg == pytest.approx((one.ndcg + 1) / 2)
    assert both.as_dict()["success@10"] == 1.0
    with pytest.raises(ValueError, match="no queries"):
        mean([])


def test_the_judged_set_is_sound_and_large_enough() -> None:
    corpus = judged.load_corpus()
    sets = judged.load_queries()
    assert judged.problems(corpus, sets) == []
    assert len(corpus) >= 150
    assert {name: len(qs) >= 20 for name, qs in sets.items() if name != "en_variants"} == {
        "en_exact": True,
        "en_descriptive": True,
        "ko": True,
    }
    assert len(sets["en_variants"]) >= 10
    assert sum(len(qs) for name, qs in sets.items() if name != "en_variants") >= 60


def test_every_judged_posting_parses_in_the_producer_shape() -> None:
    for posting in judged.load_corpus():
        assert "embedding" not in posting
        event = from_json(posting)
        assert event.id == posting["id"]
        assert event.body.title
        assert event.body.description


def test_problems_names_what_is_wrong() -> None:
    corpus = [{"id": "a"}]
    bad = {
        "s": [
            judged.Query("q1", "text", {"a": 2, "zz": 3}),
            judged.Query("q1", "text", {"a": 5}),
        ]
    }
    found = judged.problems(corpus, bad)
    assert "s/q1: zz is not in the corpus" in found
    assert "s/q1: query id used twice" in found
    assert "s/q1: no grade-3 posting" in found
    assert "s/q1: a has grade 5 (1-3)" in found
