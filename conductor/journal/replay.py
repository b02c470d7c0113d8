"""A job's state rebuilt from its journal alone (SPEC §2, History). Pure.

Every change of a job's state is written with an event in the same transaction
(``conductor.services.transitions``), so folding a job's events in order gives its
state and attempt count as the row holds them. A test rebuilds every job of a busy
run and compares; an operator can do the same with ``GET /api/v2/jobs/{id}/events``.

Events carry the state they lead to as ``state`` where more than one is possible;
the rest imply theirs (``job.started``: running, ``job.succeeded``: succeeded …).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conductor.journal.catalogue import (
    JOB_DEAD_LETTERED,
    JOB_FAILED,
    JOB_LEASE_EXPIRED,
    JOB_RETRY_SCHEDULED,
    JOB_STARTED,
    JOB_SUCCEEDED,
)
from conductor.states import JobState

#: Events that always lead to one state (the others say which in ``data.state``).
IMPLIED = {
    JOB_STARTED.name: JobState.RUNNING,
    JOB_SUCCEEDED.name: JobState.SUCCEEDED,
    JOB_RETRY_SCHEDULED.name: JobState.PENDING,
    JOB_DEAD_LETTERED.name: JobState.DEAD,
}


@dataclass(frozen=True)
class Rebuilt:
    state: str | None = None  # None: no event said (no job.submitted seen)
    attempts: int = 0


def rebuilt(events: Iterable[tuple[str, Mapping[str, Any]]]) -> Rebuilt:
    """The job as its events ``(type, data)``, oldest first, leave it."""
    state, attempts = None, 0
    for kind, data in events:
        if kind == JOB_STARTED.name:
            attempts = data["attempt"]
        elif kind == JOB_LEASE_EXPIRED.name and data.get("started") is False:
            attempts = data["attempt"] - 1  # put back: the attempt did not count
        state = _after(kind, data, state)
    return Rebuilt(state, attempts)


def _after(kind: str, data: Mapping[str, Any], state: str | None) -> str | None:
    if "state" in data:
        return data["state"]
    if kind == JOB_FAILED.name:  # an attempt failed: it retries, or it is dead
        return JobState.PENDING if data.get("will_retry") else JobState.DEAD
    return IMPLIED.get(kind, state)
