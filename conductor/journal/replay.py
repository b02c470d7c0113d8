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

#: Events that always lead to one state (the others say which in ``data.state``).
IMPLIED = {
    "job.started": "running",
    "job.succeeded": "succeeded",
    "job.retry_scheduled": "pending",
    "job.dead_lettered": "dead",
}


@dataclass(frozen=True)
class Rebuilt:
    state: str | None = None  # None: no event said (no job.submitted seen)
    attempts: int = 0


def rebuilt(events: Iterable[tuple[str, Mapping[str, Any]]]) -> Rebuilt:
    """The job as its events ``(type, data)``, oldest first, leave it."""
    state, attempts = None, 0
    for kind, data in events:
        if kind == "job.started":
            attempts = data["attempt"]
        elif kind == "job.lease_expired" and data.get("started") is False:
            attempts = data["attempt"] - 1  # put back: the attempt did not count
        state = _after(kind, data, state)
    return Rebuilt(state, attempts)


def _after(kind: str, data: Mapping[str, Any], state: str | None) -> str | None:
    if "state" in data:
        return data["state"]
    if kind == "job.failed":  # an attempt failed: it retries, or it is dead
        return "pending" if data.get("will_retry") else "dead"
    return IMPLIED.get(kind, state)
