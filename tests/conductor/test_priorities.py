"""Which due job goes first (pure): aging and fair share."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor.priorities import CRITICAL, Candidate, aged, fair_order

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("base", "waited", "expected"),
    [
        (0, 0, 0),  # not waiting yet
        (0, 59, 0),  # less than one interval
        (0, 60, 1),  # low becomes normal
        (0, 150, 2),  # two intervals: high
        (0, 10_000, 3),  # capped at critical
        (3, 10_000, 3),  # critical stays critical
        (1, -5, 1),  # not due yet
    ],
)
def test_aged(base, waited, expected):
    assert aged(base, waited_s=waited, aging_s=60) == expected


@given(base=st.integers(0, 3), waited=st.floats(0, 1e7), aging=st.floats(1, 3600))
def test_aging_never_lowers_and_never_passes_critical(base, waited, aging):
    assert base <= aged(base, waited_s=waited, aging_s=aging) <= CRITICAL


@given(base=st.integers(0, 3), aging=st.floats(1, 3600))
def test_a_low_job_reaches_the_top_after_three_intervals(base, aging):
    assert aged(base, waited_s=3 * aging + 1, aging_s=aging) == CRITICAL


def _c(i, type_, priority=1, minutes=0):
    return Candidate(str(i), type_, priority, T0 + timedelta(minutes=minutes))


def test_types_take_turns_within_a_priority():
    flood = [_c(i, "bulk", minutes=i) for i in range(10)]
    single = [_c(99, "mail", minutes=5)]
    order = [c.id for c in fair_order(flood + single, limit=4)]
    assert order == ["0", "99", "1", "2"]


def test_better_priority_first_and_oldest_first_within_a_type():
    jobs = [_c(1, "a", 1, 0), _c(2, "a", 3, 9), _c(3, "b", 0, 0), _c(4, "a", 3, 1)]
    assert [c.id for c in fair_order(jobs, limit=10)] == ["4", "2", "1", "3"]


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(0, 3), st.integers(0, 1000)),
        min_size=1,
        max_size=60,
    ),
    st.integers(1, 30),
)
def test_fair_order_properties(rows, limit):
    jobs = [_c(i, t, p, m) for i, (t, p, m) in enumerate(rows)]
    order = fair_order(jobs, limit)
    assert len(order) == min(limit, len(jobs))
    assert len({c.id for c in order}) == len(order)
    priorities = [c.priority for c in order]
    assert priorities == sorted(priorities, reverse=True)  # never a worse one first
    for type_ in "abcd":  # within a priority, each type's jobs stay oldest first
        for level in range(4):
            mine = [c.run_at for c in order if c.type == type_ and c.priority == level]
            assert mine == sorted(mine)
    top = order[0].priority  # fair share: at the top priority no type waits for
    counts = {}  # another's second job before having its first
    for c in (c for c in order if c.priority == top):
        counts[c.type] = counts.get(c.type, 0) + 1
    available = {c.type for c in jobs if c.priority == top}
    if sum(counts.values()) >= len(available):
        assert set(counts) == available
