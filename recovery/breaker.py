"""The circuit breaker as a pure state machine: one state in, a new state out.

Pure: no database, clock or settings; ``now`` (an aware datetime) is an argument
and no function mutates its input. ``recovery.services`` loads the row, calls one
function here, saves the result and journals ``transition_of(old, new)``.

Policy (bounds)
---------------
====================  =========  ==========================================
field                 default    valid values
====================  =========  ==========================================
failure_threshold     5          1-1,000 failures in the window open it
success_threshold     1          1-100 trial successes close it
timeout_ms            30,000     1,000-3,600,000 open before a trial may run
monitoring_window_ms  60,000     1,000-86,400,000 the rolling failure window
====================  =========  ==========================================

State table
-----------
===========  ==========================================  ==========================
status       event                                       result
===========  ==========================================  ==========================
closed       failure                                     failure time added to the
                                                         window (entries older than
                                                         now - window dropped); the
                                                         count reaches
                                                         failure_threshold -> open
                                                         (opened_at = now, window
                                                         cleared)
closed       success                                     unchanged (a success does
                                                         not forgive failures)
open         failure / success                           ignored (late results of
                                                         jobs that started earlier)
open         half_open(), timeout_ms after opened_at     half_open (successes = 0,
                                                         no trial)
open         half_open() earlier                         unchanged
half_open    admit_trial: no trial, or its lease over    trial_job, trial_until set
half_open    admit_trial by the trial job itself         lease renewed
half_open    admit_trial by another job, lease live      refused, unchanged
half_open    success of the trial (or job_id None)       successes + 1, trial
                                                         released; at
                                                         success_threshold -> closed
                                                         (window cleared)
half_open    success of another job                      ignored: only the trial
                                                         proves the service is back
half_open    failure of any job                          open (opened_at = now,
                                                         trial released)
any          reset()                                     closed, empty window
any          force_open()                                open (opened_at = now)
===========  ==========================================  ==========================

Choices, and why:

- The window is cleared on opening, and again on closing: failures from before an
  outage must not count towards the next one, so a breaker that closes starts
  afresh. While closed, the window never holds more than failure_threshold - 1
  entries, so the stored state stays small.
- A failure while open does not push ``opened_at`` back: every job in flight when
  the breaker opened would otherwise postpone the trial again and again.
- A failure in half_open reopens the breaker whoever reported it: the service is
  evidently not healthy, and being wrong costs only one more timeout.
- ``admits`` answers "may a job run now without taking the trial?": closed yes,
  open no (even after timeout_ms: call ``half_open`` first), half_open no (go
  through ``admit_trial``). ``admit_trial`` on a closed breaker admits (no trial
  is needed) and on an open one refuses, both without changing the state.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from recovery.backoff import SettingsReader

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
STATUSES = (CLOSED, OPEN, HALF_OPEN)
TRANSITIONS = {OPEN: "opened", HALF_OPEN: "half_opened", CLOSED: "closed"}


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    success_threshold: int = 1
    timeout_ms: int = 30_000
    monitoring_window_ms: int = 60_000

    @classmethod
    def from_dict(cls, data: Any, *, prefix: str = "") -> "BreakerPolicy":
        """A valid policy from JSON-like ``data`` (absent keys take the defaults)."""
        reader = SettingsReader(data, prefix=prefix, known=_POLICY_FIELDS)
        values = {
            name: reader.integer(name, getattr(_DEFAULT, name), low, high)
            for name, (low, high) in _BOUNDS.items()
        }
        reader.check()
        return cls(**values)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _BOUNDS}


_BOUNDS = {
    "failure_threshold": (1, 1_000),
    "success_threshold": (1, 100),
    "timeout_ms": (1_000, 3_600_000),
    "monitoring_window_ms": (1_000, 86_400_000),
}
_POLICY_FIELDS = frozenset(_BOUNDS)
_DEFAULT = BreakerPolicy()


@dataclass(frozen=True)
class BreakerState:
    status: str = CLOSED
    failures: tuple[datetime, ...] = ()  # in the window, oldest first
    opened_at: datetime | None = None
    successes: int = 0  # trial successes in half_open
    trial_job: str | None = None
    trial_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly, for the journal."""
        return {
            "status": self.status,
            "failures": [t.isoformat() for t in self.failures],
            "opened_at": _iso(self.opened_at),
            "successes": self.successes,
            "trial_job": self.trial_job,
            "trial_until": _iso(self.trial_until),
        }


def on_failure(
    state: BreakerState, *, now: datetime, policy: BreakerPolicy
) -> BreakerState:
    _require_aware(now)
    if state.status == HALF_OPEN:
        return _opened(now)
    if state.status == OPEN:
        return state
    failures = (*_in_window(state.failures, now=now, policy=policy), now)
    if len(failures) >= policy.failure_threshold:
        return _opened(now)
    return replace(state, failures=tuple(sorted(failures)))


def on_success(
    state: BreakerState,
    *,
    now: datetime,
    policy: BreakerPolicy,
    job_id: str | None = None,
) -> BreakerState:
    _require_aware(now)
    if state.status != HALF_OPEN:
        return state
    if job_id is not None and job_id != state.trial_job:
        return state
    if state.successes + 1 >= policy.success_threshold:
        return BreakerState()
    return replace(
        state, successes=state.successes + 1, trial_job=None, trial_until=None
    )


def may_half_open(state: BreakerState, *, now: datetime, policy: BreakerPolicy) -> bool:
    """Open for at least timeout_ms (an open state without opened_at: yes)."""
    _require_aware(now)
    if state.status != OPEN:
        return False
    until = open_until(state, policy=policy)
    return until is None or now >= until


def half_open(
    state: BreakerState, *, now: datetime, policy: BreakerPolicy
) -> BreakerState:
    if not may_half_open(state, now=now, policy=policy):
        return state
    return BreakerState(status=HALF_OPEN, opened_at=state.opened_at)


def admit_trial(
    state: BreakerState, *, now: datetime, job_id: str, lease_ms: int
) -> tuple[BreakerState, bool]:
    """May ``job_id`` run now? In half_open it takes the one trial, with a lease."""
    _require_aware(now)
    if lease_ms <= 0:
        raise ValueError(f"lease_ms must be positive, got {lease_ms}")
    if state.status != HALF_OPEN:
        return state, state.status == CLOSED
    if trial_active(state, now=now) and state.trial_job != job_id:
        return state, False
    until = now + timedelta(milliseconds=lease_ms)
    return replace(state, trial_job=job_id, trial_until=until), True


def trial_active(state: BreakerState, *, now: datetime) -> bool:
    """A trial is held and its lease has not run out (no lease: not active)."""
    return (
        state.trial_job is not None
        and state.trial_until is not None
        and state.trial_until > now
    )


def release_trial(state: BreakerState, *, job_id: str) -> BreakerState:
    """The trial job ended without an outcome (cancelled, parked): free the trial."""
    if state.trial_job != job_id:
        return state
    return replace(state, trial_job=None, trial_until=None)


def reset(state: BreakerState, *, now: datetime) -> BreakerState:
    """An operator's reset: closed, with an empty window."""
    _require_aware(now)
    return BreakerState()


def force_open(state: BreakerState, *, now: datetime) -> BreakerState:
    """An operator's force open: open from now, as if it had just tripped."""
    _require_aware(now)
    return _opened(now)


def open_until(state: BreakerState, *, policy: BreakerPolicy) -> datetime | None:
    """When an open breaker may half-open; None when not open."""
    if state.status != OPEN or state.opened_at is None:
        return None
    return state.opened_at + timedelta(milliseconds=policy.timeout_ms)


def admits(state: BreakerState, *, now: datetime, policy: BreakerPolicy) -> bool:
    """May a job run now without the trial? Only when closed (see the docstring)."""
    _require_aware(now)
    return state.status == CLOSED


def transition_of(old: BreakerState, new: BreakerState) -> str | None:
    """The journal's name for a status change (opened, half_opened, closed), or None."""
    if old.status == new.status:
        return None
    return TRANSITIONS[new.status]


def _opened(now: datetime) -> BreakerState:
    return BreakerState(status=OPEN, opened_at=now)


def _in_window(
    failures: tuple[datetime, ...], *, now: datetime, policy: BreakerPolicy
) -> tuple[datetime, ...]:
    start = now - timedelta(milliseconds=policy.monitoring_window_ms)
    return tuple(t for t in failures if t >= start)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
