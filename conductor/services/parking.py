"""Parking: jobs whose circuit breaker is open wait as ``parked``, not as retries.

Parking never runs the job, so it never uses up an attempt. When the breaker may
half-open the jobs go back to ``pending`` (the claim then lets exactly one of them
through as the trial while the breaker is half-open).
"""

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import transaction

from conductor import doorbell
from conductor.models import Job
from conductor.services.events import NewEvent, events_record
from conductor.states import JobState

BATCH = 1000


@transaction.atomic
def jobs_park(*, until_by_service: Mapping[str, datetime], now: datetime) -> int:
    """Park the due-or-not pending jobs of every open breaker until it may half-open."""
    parked = 0
    for service, until in until_by_service.items():
        ids = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(state=JobState.PENDING, breaker=service)
            .values_list("id", flat=True)[:BATCH]
        )
        if not ids:
            continue
        Job.objects.filter(id__in=ids, state=JobState.PENDING).update(
            state=JobState.PARKED, run_at=until, updated_at=now
        )
        data = {"state": "parked", "breaker": service, "until": until.isoformat()}
        events_record((_event("job.parked", i, data) for i in ids), at=now)
        parked += len(ids)
    return parked


@transaction.atomic
def jobs_unpark(*, still_open: Iterable[str], now: datetime) -> int:
    """Put back parked jobs whose breaker is no longer open."""
    rows = list(
        Job.objects.select_for_update(skip_locked=True)
        .filter(state=JobState.PARKED)
        .exclude(breaker__in=list(still_open))
        .values_list("id", "breaker", "queue")[:BATCH]
    )
    if not rows:
        return 0
    ids = [row[0] for row in rows]
    Job.objects.filter(id__in=ids, state=JobState.PARKED).update(
        state=JobState.PENDING, run_at=now, updated_at=now
    )
    events_record(
        (
            _event("job.unparked", i, {"state": "pending", "breaker": b})
            for i, b, _ in rows
        ),
        at=now,
    )
    for queue in {row[2] for row in rows}:
        doorbell.ring(queue)
    return len(rows)


def _event(type_: str, job_id, data: dict) -> NewEvent:
    return NewEvent(type_, "job", str(job_id), data)
