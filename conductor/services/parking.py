"""Parking: due jobs whose circuit breaker is open wait as ``parked``, not as retries.

Parking never runs the job, so it never uses up an attempt, and it never touches
``run_at``: only jobs already due are parked (a job due tomorrow stays ``pending``;
the claim keeps it out while its breaker is open, and the tick parks it if it comes
due before the breaker closes), and a parked job goes back to ``pending`` with the
``run_at`` it had, so a breaker opening and closing never makes a delayed job run
early. When the breaker may half-open the jobs go back to ``pending`` (the claim then
lets exactly one of them through as the trial while the breaker is half-open). Both
moves go through the one door (``transitions.jobs_transition``).
"""

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import transaction

from conductor import doorbell
from conductor.journal.catalogue import JOB_PARKED, JOB_UNPARKED
from conductor.models import Job
from conductor.services.transitions import jobs_transition
from conductor.states import JobState

BATCH = 1000


@transaction.atomic
def jobs_park(*, until_by_service: Mapping[str, datetime], now: datetime) -> int:
    """Park the due pending jobs of every open breaker until it may half-open."""
    parked = 0
    for service, until in until_by_service.items():
        ids = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(state=JobState.PENDING, breaker=service, run_at__lte=now)
            .values_list("id", flat=True)[:BATCH]
        )
        data = {"breaker": service, "until": until.isoformat()}
        moved = jobs_transition(
            ids=ids, expect=JobState.PENDING, to=JobState.PARKED, event=JOB_PARKED,
            data=lambda _id, data=data: data, now=now,
        )  # fmt: skip
        parked += len(moved)
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
    breaker_of = {str(job_id): breaker for job_id, breaker, _queue in rows}
    moved = jobs_transition(
        ids=list(breaker_of), expect=JobState.PARKED, to=JobState.PENDING,
        event=JOB_UNPARKED, data=lambda job_id: {"breaker": breaker_of[job_id]},
        now=now,
    )  # fmt: skip
    for queue in {queue for _id, _breaker, queue in rows}:
        doorbell.ring(queue)
    return len(moved)
