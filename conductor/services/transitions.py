"""The one door for job state: every change, single or bulk, is checked here against
``conductor.states`` and written with its journal events in the caller's transaction.

- ``job_transition``: one job, by an actor or a service (cancel, release, abort …).
- ``jobs_transition``: many jobs of one kind of change (parking, unparking).
- ``jobs_create``: new jobs, each in a state a job may start in.
- ``jobs_claim`` / ``jobs_complete``: the engine's batch statements (one round trip
  each, in ``conductor.backends``), here checked before they run and followed by
  their events.

Every write is a conditional UPDATE (``WHERE state IN sources``): two actors racing on
one job cannot both move it; a single transition's loser gets ``IllegalTransition``
naming the real state, and a bulk one leaves the job out.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from conductor import backends, states
from conductor.backends import ClaimRequest, CompleteRow
from conductor.errors import NotFound
from conductor.journal.catalogue import JOB_STARTED, EventType
from conductor.journal.writer import NewEvent, event_record, events_record
from conductor.models import Job
from conductor.states import JobState

#: The states a new job may be written in.
INITIAL = frozenset({JobState.PENDING, JobState.WAITING, JobState.FAILED})


def job_transition(
    *,
    job_id: str,
    to: str,
    event: EventType,
    data: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    expect: str | None = None,
    actor: str = "",
    trace_id: str = "",
) -> None:
    """Move a job to ``to`` (from ``expect`` only, if given) and journal ``event``."""
    sources = states.sources_of(to) if expect is None else {expect}
    if expect is not None:
        states.check(expect, to)
    now = timezone.now()
    with transaction.atomic():
        moved = Job.objects.filter(id=job_id, state__in=sources).update(
            state=to, updated_at=now, **(changes or {})
        )
        if not moved:
            current = Job.objects.filter(id=job_id).values_list("state", flat=True)
            if not current:
                raise NotFound(f"no job with id {job_id}")
            raise states.IllegalTransition(current[0], to)
        event_record(
            type=event,
            subject=("job", str(job_id)),
            data={"state": to, **(data or {})},
            actor=actor,
            trace_id=trace_id,
            at=now,
        )


def jobs_transition(
    *,
    ids: Sequence[str],
    expect: str,
    to: str,
    event: EventType,
    data: Callable[[str], dict[str, Any]],
    now: datetime,
    changes: Mapping[str, Any] | None = None,
) -> list[str]:
    """Move the jobs among ``ids`` still in ``expect`` to ``to``, journal ``event``
    for each (``data(id)``); the ids moved."""
    states.check(expect, to)
    with transaction.atomic():
        rows = Job.objects.select_for_update().filter(id__in=list(ids), state=expect)
        moved = [str(job_id) for job_id in rows.values_list("id", flat=True)]
        Job.objects.filter(id__in=moved).update(
            state=to, updated_at=now, **(changes or {})
        )
        events_record(
            (
                NewEvent(event, job_id, {"state": to, **data(job_id)})
                for job_id in moved
            ),
            at=now,
        )
    return moved


def jobs_create(
    *, rows: list[dict], events: Iterable[NewEvent], now: datetime, actor: str,
    trace_id: str,
) -> None:  # fmt: skip
    """Write new job rows (each ``state`` one of ``INITIAL``) and their events."""
    bad = {row["state"] for row in rows} - INITIAL
    if bad:
        raise states.IllegalTransition("(new)", ", ".join(sorted(bad)))
    if rows:
        backends.current().jobs_insert(rows, now=now, actor=actor, trace_id=trace_id)
        events_record(events, at=now)


def jobs_claim(claim: ClaimRequest) -> list[dict[str, Any]]:
    """Claim due jobs (pending → running) with their attempt rows and
    ``job.started`` events; the claimed rows, in the order they should run."""
    states.check(claim.source, claim.target)
    rows = backends.current().jobs_claim(claim)
    events_record(
        (
            NewEvent(
                JOB_STARTED,
                str(row["id"]),
                {
                    "type": row["type"],
                    "attempt": row["attempts"],
                    "worker": claim.worker,
                },
                trace_id=row["trace_id"],
            )
            for row in rows
        ),
        at=claim.now,
    )
    return rows


def jobs_complete(
    *, rows: Sequence[CompleteRow], events: Iterable[NewEvent], now: datetime
) -> dict[str, bool]:
    """Write the outcomes of running jobs still held by their worker, and the events
    of those jobs only; the ids written, each with whether it has dependents."""
    for target in {row.state for row in rows}:
        states.check(JobState.RUNNING, target)
    if not rows:
        return {}
    owned = backends.current().jobs_complete(rows, source=JobState.RUNNING, now=now)
    events_record((e for e in events if e.subject_id in owned), at=now)
    return owned
