"""The job state machine (pure)."""

import pytest

from conductor import states
from conductor.states import JobState as S


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.PENDING, S.RUNNING),  # a worker claims it
        (S.RUNNING, S.SUCCEEDED),  # the handler returned
        (S.RUNNING, S.PENDING),  # retry scheduled or lease expired
        (S.RUNNING, S.FAILED),  # failed for good
        (S.RUNNING, S.DEAD),  # out of retries: dead-lettered
        (S.WAITING, S.PENDING),  # dependencies met
        (S.PARKED, S.PENDING),  # breaker may half-open
        (S.CANCELLED, S.PENDING),  # resumed
        (S.DEAD, S.PENDING),  # retried by an operator
    ],
)
def test_legal_transitions(old, new):
    states.check(old, new)
    assert old in states.sources_of(new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.SUCCEEDED, S.PENDING),  # success is final
        (S.SUCCEEDED, S.RUNNING),
        (S.PENDING, S.SUCCEEDED),  # never succeeds without running
        (S.WAITING, S.RUNNING),  # must become pending first
        (S.PARKED, S.RUNNING),
        (S.CANCELLED, S.RUNNING),
        (S.FAILED, S.SUCCEEDED),
    ],
)
def test_illegal_transitions_raise(old, new):
    with pytest.raises(states.IllegalTransition) as info:
        states.check(old, new)
    assert old in str(info.value) and new in str(info.value)
    assert old not in states.sources_of(new)


def test_every_state_is_in_the_table_and_final_states_only_leave_by_an_actor():
    assert set(states.TRANSITIONS) == set(S)
    for final in states.FINAL:
        assert states.TRANSITIONS[final] <= {S.PENDING, S.WAITING}
    assert states.FINAL.isdisjoint(states.ACTIVE)
