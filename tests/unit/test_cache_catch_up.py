"""Where a starting API instance joins the invalidation log (api.cache.listener.catch_up_from)."""

from __future__ import annotations

from api.cache.listener import MAX_CATCH_UP, catch_up_from

STARTS, ENDS = {0: 10}, {0: 50}


def test_resumes_where_l2_is_valid() -> None:
    assert catch_up_from({0: 42}, STARTS, ENDS) == {0: 42}
    assert catch_up_from({0: 50}, STARTS, ENDS) == {0: 50}  # up to date: nothing to replay
    assert catch_up_from({0: 10}, STARTS, ENDS) == {0: 10}  # the oldest event still kept


def test_drops_l2_when_its_position_cannot_be_used() -> None:
    assert catch_up_from(None, STARTS, ENDS) is None  # never recorded, or Redis flushed
    assert catch_up_from({}, STARTS, ENDS) is None
    assert catch_up_from({0: 9}, STARTS, ENDS) is None  # behind the retention: events lost
    assert catch_up_from({0: 51}, STARTS, ENDS) is None  # ahead: the topic was recreated
    assert catch_up_from({1: 20}, STARTS, ENDS) is None  # another partition layout


def test_too_far_back_is_dropped_rather_than_replayed() -> None:
    ends = {0: MAX_CATCH_UP + 1}
    assert catch_up_from({0: 0}, {0: 0}, ends) is None
    assert catch_up_from({0: 1}, {0: 0}, ends) == {0: 1}


def test_extra_recorded_partitions_are_ignored() -> None:
    assert catch_up_from({0: 20, 1: 5}, STARTS, ENDS) == {0: 20}
