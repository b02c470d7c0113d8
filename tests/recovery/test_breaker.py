"""The circuit breaker (pure): transitions, the rolling window, trials, properties."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from conductor.errors import ValidationFailed
from recovery import breaker
from recovery.breaker import BreakerPolicy, BreakerState

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = BreakerPolicy(
    failure_threshold=3,
    success_threshold=2,
    timeout_ms=10_000,
    monitoring_window_ms=60_000,
)


def at(ms):
    return T0 + timedelta(milliseconds=ms)


def apply(state, event, policy=POLICY):
    """Run one event; returns (new state, admitted or None)."""
    kind, *args = event
    if kind == "failure":
        return breaker.on_failure(state, now=at(args[0]), policy=policy), None
    if kind == "success":
        ms, job = args
        return breaker.on_success(state, now=at(ms), policy=policy, job_id=job), None
    if kind == "half_open":
        return breaker.half_open(state, now=at(args[0]), policy=policy), None
    if kind == "admit":
        ms, job, lease = args
        return breaker.admit_trial(state, now=at(ms), job_id=job, lease_ms=lease)
    if kind == "release":
        return breaker.release_trial(state, job_id=args[0]), None
    if kind == "reset":
        return breaker.reset(state, now=at(args[0])), None
    return breaker.force_open(state, now=at(args[0])), None


CLOSED = BreakerState()
TWO_FAILURES = BreakerState(failures=(at(0), at(1000)))
OPEN = BreakerState(status="open", opened_at=at(5000))
HALF = BreakerState(status="half_open", opened_at=at(5000))
TRIAL = replace(HALF, trial_job="j1", trial_until=at(20_000))
ONE_SUCCESS = replace(TRIAL, successes=1)

# fmt: off
TRANSITIONS = [
    (CLOSED, ("failure", 0), BreakerState(failures=(at(0),)), None, None),  # the first failure enters the window
    (TWO_FAILURES, ("failure", 2000), BreakerState(status="open", opened_at=at(2000)), None, "opened"),  # the third in the window trips it; the window is cleared
    (TWO_FAILURES, ("failure", 60_000), BreakerState(status="open", opened_at=at(60_000)), None, "opened"),  # a failure exactly a window old still counts
    (TWO_FAILURES, ("failure", 60_500), BreakerState(failures=(at(1000), at(60_500))), None, None),  # one older than the window is dropped: no trip
    (TWO_FAILURES, ("failure", 500), BreakerState(status="open", opened_at=at(500)), None, "opened"),  # a report timed before the last one still counts (and trips)
    (TWO_FAILURES, ("success", 2000, "j1"), TWO_FAILURES, None, None),  # a success does not forgive failures
    (CLOSED, ("half_open", 99_000), CLOSED, None, None),  # half_open() only moves an open breaker
    (CLOSED, ("admit", 0, "j1", 5000), CLOSED, True, None),  # closed: every job runs, no trial taken
    (OPEN, ("failure", 6000), OPEN, None, None),  # open: a late failure does not push the trial back
    (OPEN, ("success", 6000, "j1"), OPEN, None, None),  # open: a late success is ignored
    (OPEN, ("admit", 99_000, "j1", 5000), OPEN, False, None),  # open: no job runs, even after the timeout
    (OPEN, ("half_open", 14_999), OPEN, None, None),  # 1 ms before the timeout: still open
    (OPEN, ("half_open", 15_000), HALF, None, "half_opened"),  # at the timeout: half open, no trial yet
    (HALF, ("admit", 15_000, "j1", 5000), TRIAL, True, None),  # the first job takes the trial with a lease
    (TRIAL, ("admit", 19_999, "j2", 5000), TRIAL, False, None),  # a second job is refused while the lease lasts
    (TRIAL, ("admit", 20_000, "j2", 5000), replace(TRIAL, trial_job="j2", trial_until=at(25_000)), True, None),  # the lease ran out: another job takes over
    (TRIAL, ("admit", 16_000, "j1", 5000), replace(TRIAL, trial_until=at(21_000)), True, None),  # the trial job itself renews its lease
    (TRIAL, ("success", 16_000, "j1"), replace(HALF, successes=1), None, None),  # a trial success counts and frees the trial (threshold 2)
    (ONE_SUCCESS, ("success", 16_000, "j1"), CLOSED, None, "closed"),  # the second closes it, window empty
    (TRIAL, ("success", 16_000, "j2"), TRIAL, None, None),  # another job's success proves nothing
    (TRIAL, ("success", 16_000, None), replace(HALF, successes=1), None, None),  # no job named: taken as the trial's
    (TRIAL, ("failure", 16_000), BreakerState(status="open", opened_at=at(16_000)), None, "opened"),  # any failure reopens it, from now
    (HALF, ("failure", 16_000), BreakerState(status="open", opened_at=at(16_000)), None, "opened"),  # ...with no trial running too
    (TRIAL, ("release", "j1"), HALF, None, None),  # the trial job gave up: the trial is free
    (TRIAL, ("release", "j2"), TRIAL, None, None),  # another job cannot release it
    (OPEN, ("reset", 6000), CLOSED, None, "closed"),  # an operator's reset
    (TRIAL, ("reset", 16_000), CLOSED, None, "closed"),  # ...from half open too
    (TWO_FAILURES, ("reset", 2000), CLOSED, None, None),  # ...or closed: the window is emptied
    (TWO_FAILURES, ("force_open", 3000), BreakerState(status="open", opened_at=at(3000)), None, "opened"),  # an operator's force open
    (TRIAL, ("force_open", 16_000), BreakerState(status="open", opened_at=at(16_000)), None, "opened"),  # ...drops the trial
]
# fmt: on


@pytest.mark.parametrize(
    ("state", "event", "expected", "admitted", "transition"), TRANSITIONS
)
def test_each_event_moves_the_breaker_as_the_table_says(
    state, event, expected, admitted, transition
):
    new, was_admitted = apply(state, event)
    assert new == expected
    assert was_admitted is admitted
    assert breaker.transition_of(state, new) == transition


def test_default_thresholds_open_after_five_and_close_after_one():
    policy = BreakerPolicy()
    state = CLOSED
    for ms in range(4):
        state = breaker.on_failure(state, now=at(ms), policy=policy)
    assert state.status == "closed"
    state = breaker.on_failure(state, now=at(4), policy=policy)
    assert state.status == "open"
    state = breaker.half_open(state, now=at(30_004), policy=policy)
    state, admitted = breaker.admit_trial(state, now=at(30_004), job_id="j", lease_ms=1)
    assert admitted
    assert (
        breaker.on_success(state, now=at(30_004), policy=policy, job_id="j") == CLOSED
    )


def test_a_threshold_of_one_opens_on_the_first_failure():
    state = breaker.on_failure(
        CLOSED, now=at(0), policy=BreakerPolicy(failure_threshold=1)
    )
    assert state == BreakerState(status="open", opened_at=at(0))


# --- the rolling window ----------------------------------------------------------


def failures_at(times_ms, policy):
    state = CLOSED
    for ms in times_ms:
        state = breaker.on_failure(state, now=at(ms), policy=policy)
    return state


WINDOWED = BreakerPolicy(failure_threshold=5, monitoring_window_ms=60_000)


def test_five_failures_spread_over_more_than_the_window_never_trip():
    state = failures_at([0, 15_001, 30_002, 45_003, 60_004], WINDOWED)
    assert state.status == "closed"
    assert state.failures == (at(15_001), at(30_002), at(45_003), at(60_004))


def test_a_steady_trickle_of_failures_never_trips():
    # Every 15.001 s for an hour: at most four fall in any 60 s window.
    state = failures_at(range(0, 3_600_000, 15_001), WINDOWED)
    assert state.status == "closed"
    assert len(state.failures) == 4


def test_five_failures_inside_the_window_trip():
    state = failures_at([0, 15_000, 30_000, 45_000, 60_000], WINDOWED)
    assert state == BreakerState(status="open", opened_at=at(60_000))


def test_a_shorter_window_set_by_an_operator_applies_at_the_next_failure():
    state = failures_at([0, 1000, 2000], WINDOWED)
    shorter = replace(WINDOWED, monitoring_window_ms=1000)
    assert breaker.on_failure(state, now=at(2500), policy=shorter).failures == (
        at(2000),
        at(2500),
    )


# --- questions about a state --------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "ms", "may_half_open", "admits"),
    [
        (CLOSED, 0, False, True),  # closed: jobs run; nothing to half-open
        (OPEN, 14_999, False, False),  # open, before the timeout
        (
            OPEN,
            15_000,
            True,
            False,
        ),  # open, at the timeout: may half-open, still admits nobody
        (
            BreakerState(status="open"),
            0,
            True,
            False,
        ),  # open with no opening time: half-open at once
        (HALF, 15_000, False, False),  # half open: only through admit_trial
        (TRIAL, 15_000, False, False),  # ...with a trial running too
    ],
)
def test_what_a_state_allows(state, ms, may_half_open, admits):
    assert breaker.may_half_open(state, now=at(ms), policy=POLICY) is may_half_open
    assert breaker.admits(state, now=at(ms), policy=POLICY) is admits


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (OPEN, at(15_000)),  # opened_at + timeout_ms
        (CLOSED, None),  # not open
        (HALF, None),  # not open any more
    ],
)
def test_open_until(state, expected):
    assert breaker.open_until(state, policy=POLICY) == expected


def test_a_trial_without_a_lease_is_not_active():
    stuck = replace(HALF, trial_job="j1", trial_until=None)
    _, admitted = breaker.admit_trial(stuck, now=at(15_000), job_id="j2", lease_ms=1000)
    assert admitted


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="aware"):
        breaker.on_failure(CLOSED, now=datetime(2026, 1, 1), policy=POLICY)


def test_a_lease_must_be_positive():
    with pytest.raises(ValueError, match="lease_ms"):
        breaker.admit_trial(HALF, now=at(0), job_id="j", lease_ms=0)


def test_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status"):
        BreakerState(status="ajar")


def test_the_state_is_journalled_as_json():
    data = json.loads(json.dumps(TRIAL.as_dict()))
    assert data == {
        "status": "half_open",
        "failures": [],
        "opened_at": "2026-01-01T12:00:05+00:00",
        "successes": 0,
        "trial_job": "j1",
        "trial_until": "2026-01-01T12:00:20+00:00",
    }


# --- policy validation ------------------------------------------------------------


# fmt: off
INVALID_POLICIES = [
    ({"failure_threshold": 0}, ("failure_threshold", "out_of_range", "must be between 1 and 1000")),  # never opening is not a breaker
    ({"failure_threshold": 1001}, ("failure_threshold", "out_of_range", "must be between 1 and 1000")),  # too many
    ({"success_threshold": 0}, ("success_threshold", "out_of_range", "must be between 1 and 100")),  # closing with no proof
    ({"success_threshold": 101}, ("success_threshold", "out_of_range", "must be between 1 and 100")),  # too many
    ({"timeout_ms": 999}, ("timeout_ms", "out_of_range", "must be between 1000 and 3600000")),  # under a second
    ({"timeout_ms": 3_600_001}, ("timeout_ms", "out_of_range", "must be between 1000 and 3600000")),  # over an hour
    ({"monitoring_window_ms": 999}, ("monitoring_window_ms", "out_of_range", "must be between 1000 and 86400000")),  # under a second
    ({"monitoring_window_ms": 86_400_001}, ("monitoring_window_ms", "out_of_range", "must be between 1000 and 86400000")),  # over a day
    ({"timeout_ms": "30s"}, ("timeout_ms", "type", "must be an integer")),  # a string
    ({"failure_threshold": True}, ("failure_threshold", "type", "must be an integer")),  # a boolean
    ({"failureThreshold": 5}, ("failureThreshold", "unknown_field", "unknown field; expected one of failure_threshold, monitoring_window_ms, success_threshold, timeout_ms")),  # the seed's camelCase
    ("open", ("body", "type", "must be an object")),  # not an object
]
# fmt: on


@pytest.mark.parametrize(("data", "expected"), INVALID_POLICIES)
def test_each_invalid_policy_field_is_named_with_its_bound(data, expected):
    with pytest.raises(ValidationFailed) as info:
        BreakerPolicy.from_dict(data)
    assert [(e.field, e.code, e.message) for e in info.value.errors] == [expected]


def test_a_prefix_names_the_nested_field():
    with pytest.raises(ValidationFailed) as info:
        BreakerPolicy.from_dict({"timeout_ms": 1}, prefix="breaker")
    assert info.value.errors[0].field == "breaker.timeout_ms"


def test_a_policy_reads_back_from_its_dict():
    assert BreakerPolicy.from_dict({}) == BreakerPolicy()
    assert BreakerPolicy.from_dict(POLICY.as_dict()) == POLICY


# --- properties: any sequence of events -----------------------------------------------


JOBS = st.sampled_from(["a", "b", "c", None])
TRIAL_JOBS = st.sampled_from(["a", "b", "c"])
LEASES = st.integers(1, 10_000)


class BreakerMachine(RuleBasedStateMachine):
    """Random events against one breaker, checking what must always hold."""

    @initialize(
        failure_threshold=st.integers(1, 3),
        success_threshold=st.integers(1, 3),
        timeout_ms=st.integers(1000, 10_000),
        window_ms=st.integers(1000, 60_000),
    )
    def start(self, failure_threshold, success_threshold, timeout_ms, window_ms):
        self.policy = BreakerPolicy(
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
            timeout_ms=timeout_ms,
            monitoring_window_ms=window_ms,
        )
        self.state = BreakerState()
        self.now = T0
        self.leases = {}  # job -> lease end, for trials admitted and not yet over

    def move(self, new):
        if new.status != "half_open" or new.trial_job is None:
            self.leases.clear()
        self.state = new

    @rule(ms=st.integers(0, 15_000))
    def time_passes(self, ms):
        self.now += timedelta(milliseconds=ms)

    @rule()
    def failure(self):
        was = self.state.status
        self.move(breaker.on_failure(self.state, now=self.now, policy=self.policy))
        if was == "half_open":  # (b) a failure in half_open always ends in open
            assert self.state.status == "open"
            assert self.state.opened_at == self.now

    @precondition(lambda self: self.state.status == "open")
    @rule(extra_ms=st.integers(0, 2000))
    def time_passes_past_the_timeout(self, extra_ms):
        due = breaker.open_until(self.state, policy=self.policy)
        self.now = max(self.now, due + timedelta(milliseconds=extra_ms))

    @precondition(lambda self: self.state.status != "open")
    @rule()
    def operator_forces_open(self):
        self.move(breaker.force_open(self.state, now=self.now))

    @rule()
    def operator_resets(self):
        self.move(breaker.reset(self.state, now=self.now))

    @rule(job=JOBS)
    def success(self, job):
        new = breaker.on_success(
            self.state, now=self.now, policy=self.policy, job_id=job
        )
        self.move(new)

    @precondition(lambda self: self.state.status == "open")
    @rule()
    def try_half_open(self):
        self.move(breaker.half_open(self.state, now=self.now, policy=self.policy))

    @rule(job=TRIAL_JOBS, lease_ms=LEASES)
    def admit(self, job, lease_ms):
        new, admitted = breaker.admit_trial(
            self.state, now=self.now, job_id=job, lease_ms=lease_ms
        )
        live = {j for j, until in self.leases.items() if until > self.now}
        if admitted and self.state.status == "half_open":
            assert live <= {job}  # (a) never a second trial while one is live
            self.leases = {job: new.trial_until}
        self.state = new

    @precondition(lambda self: self.state.status == "half_open")
    @rule(job=TRIAL_JOBS, lease_ms=LEASES)
    def admit_while_half_open(self, job, lease_ms):
        self.admit(job, lease_ms)  # the state the trial rules are about, more often

    @precondition(lambda self: self.state.status == "half_open")
    @rule(job=TRIAL_JOBS)
    def release(self, job):
        self.leases.pop(job, None)
        self.move(breaker.release_trial(self.state, job_id=job))

    @precondition(lambda self: self.state.status == "half_open")
    @rule()
    def trial_succeeds(self):
        if self.state.trial_job is not None:
            self.leases.pop(self.state.trial_job, None)
        self.move(
            breaker.on_success(
                self.state,
                now=self.now,
                policy=self.policy,
                job_id=self.state.trial_job,
            )
        )

    @invariant()
    def status_is_one_of_three(self):  # (c)
        assert self.state.status in ("closed", "open", "half_open")

    @invariant()
    def a_live_trial_refuses_every_other_job(self):  # (a)
        if breaker.trial_active(self.state, now=self.now):
            for other in {"a", "b", "c"} - {self.state.trial_job}:
                _, admitted = breaker.admit_trial(
                    self.state, now=self.now, job_id=other, lease_ms=1000
                )
                assert not admitted

    @invariant()
    def open_admits_nobody_until_the_timeout(self):  # (d)
        if self.state.status != "open":
            return
        due = self.state.opened_at + timedelta(milliseconds=self.policy.timeout_ms)
        assert not breaker.admits(self.state, now=self.now, policy=self.policy)
        assert breaker.may_half_open(self.state, now=self.now, policy=self.policy) is (
            self.now >= due
        )

    @invariant()
    def closed_window_is_small_and_ordered(self):
        failures = self.state.failures
        assert list(failures) == sorted(failures)
        assert len(failures) < self.policy.failure_threshold
        assert not failures or self.state.status == "closed"


BreakerMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
test_breaker_machine = BreakerMachine.TestCase
