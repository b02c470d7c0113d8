"""The job state machine. Pure: it decides which transitions are legal, nothing else.

| from      | to        | why                                        |
|-----------|-----------|--------------------------------------------|
| pending   | running   | a worker claimed it                        |
| pending   | parked    | its breaker is open                        |
| pending   | waiting   | a dependency is unfinished                 |
| pending   | cancelled | an actor cancelled it                      |
| waiting   | pending   | its dependencies are met                   |
| waiting   | failed    | a dependency failed and the action aborts  |
| waiting   | cancelled | an actor cancelled it                      |
| parked    | pending   | its breaker may half-open                  |
| parked    | cancelled | an actor cancelled it                      |
| running   | succeeded | the handler returned                       |
| running   | pending   | retry scheduled, lease expired             |
| running   | parked    | its breaker opened                         |
| running   | failed    | failed for good, not dead-lettered         |
| running   | dead      | out of retries: the dead-letter queue      |
| running   | cancelled | forced or graceful cancel                  |
| failed    | pending   | retried by an actor                        |
| failed    | waiting   | retried, its dependencies not yet done     |
| dead      | pending   | retried by an actor                        |
| dead      | waiting   | retried, its dependencies not yet done     |
| cancelled | pending   | resumed by an actor                        |
| cancelled | waiting   | resumed, its dependencies not yet done     |

``succeeded`` is final. Every transition is applied by a conditional UPDATE
(``WHERE state IN sources_of(new)``) and journalled; the one door that does it is
``conductor.services.transitions``.

Pure: standard library only (``conductor.errors`` is a pure leaf).
"""

from enum import StrEnum

from conductor.errors import IllegalTransition


class JobState(StrEnum):
    PENDING = "pending"
    WAITING = "waiting"
    PARKED = "parked"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"


S = JobState

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.PENDING: frozenset({S.RUNNING, S.PARKED, S.WAITING, S.CANCELLED}),
    S.WAITING: frozenset({S.PENDING, S.FAILED, S.CANCELLED}),
    S.PARKED: frozenset({S.PENDING, S.CANCELLED}),
    S.RUNNING: frozenset(
        {S.SUCCEEDED, S.PENDING, S.PARKED, S.FAILED, S.DEAD, S.CANCELLED}
    ),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset({S.PENDING, S.WAITING}),
    S.DEAD: frozenset({S.PENDING, S.WAITING}),
    S.CANCELLED: frozenset({S.PENDING, S.WAITING}),
}

#: States a job never leaves on its own (only an actor's retry or resume moves it).
FINAL = frozenset({S.SUCCEEDED, S.FAILED, S.DEAD, S.CANCELLED})
#: States in which a job still has work ahead of it.
ACTIVE = frozenset(set(JobState) - FINAL)


#: ``(value, label)`` pairs for model fields and serializers.
CHOICES = [(state.value, state.value.title()) for state in JobState]
VALUES = [state.value for state in JobState]


def can(old: str, new: str) -> bool:
    return JobState(new) in TRANSITIONS[JobState(old)]


def check(old: str, new: str) -> None:
    """Raise ``IllegalTransition`` unless ``old -> new`` is in the table."""
    if not can(old, new):
        raise IllegalTransition(old, new)


def sources_of(new: str) -> frozenset[JobState]:
    """Every state from which ``new`` may be reached (for a conditional UPDATE)."""
    return frozenset(old for old, targets in TRANSITIONS.items() if new in targets)
