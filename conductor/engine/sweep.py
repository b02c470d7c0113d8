"""The sweeper (run by beat every ``CONDUCTOR_ENGINE_SWEEP_INTERVAL_S``).

1. Jobs whose lease ran out (their worker died or hung) go back to ``pending`` to run
   again at once, or end ``dead`` (in the dead-letter queue) with ``LEASE_EXPIRED``
   when out of retries; their dangling attempt is closed and ``job.lease_expired``
   journalled.
2. Pending jobs age: one priority level per ``CONDUCTOR_ENGINE_AGING_S`` of waiting
   past their ``run_at``, up to critical, so low-priority work never starves (the
   rule of ``conductor.priorities.aged``, applied in three UPDATEs).
Doorbells for due work are rung by the more frequent tick (``conductor.engine.tick``):
a lost message costs at most one tick.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least

from conductor import doorbell
from conductor.models import Job, Priority, RetryAttempt
from conductor.services.events import event_record
from conductor.states import JobState

EXPIRED_BATCH = 500


def sweep(*, now: datetime) -> dict:
    """Leases and aging; the doorbells for due work are the tick's job."""
    expired = leases_reclaim(now=now)
    aged = jobs_age(now=now)
    return {"lease_expired": expired, "aged": aged}


@transaction.atomic
def leases_reclaim(*, now: datetime) -> int:
    expired = list(
        Job.objects.select_for_update(skip_locked=True)
        .filter(state=JobState.RUNNING, lease_expires_at__lt=now)
        .order_by("lease_expires_at")[:EXPIRED_BATCH]
    )
    for job in expired:
        _reclaim(job, now)
    dead = [job.id for job in expired if job.state == JobState.DEAD]
    if dead:
        from recovery.services import dead_letters_add

        dead_letters_add(job_ids=dead, now=now)
    if expired:
        from conductor.services.dependencies import dependents_resolve

        dependents_resolve(finished=[j.id for j in expired if j.state != "pending"])
    return len(expired)


def _reclaim(job: Job, now: datetime) -> None:
    error = {
        "code": "LEASE_EXPIRED",
        "message": f"worker {job.locked_by or '?'} stopped holding the job",
    }
    again = job.attempts <= job.max_retries
    job.state = JobState.PENDING if again else JobState.DEAD
    Job.objects.filter(id=job.id, state=JobState.RUNNING).update(
        state=job.state,
        error=error,
        run_at=now,
        lease_expires_at=None,
        locked_by="",
        finished_at=None if again else now,
        updated_at=now,
    )
    RetryAttempt.objects.filter(
        job=job, attempt_number=job.attempts, status=RetryAttempt.Status.PENDING
    ).update(
        status=RetryAttempt.Status.FAILED,
        finished_at=now,
        error_code="LEASE_EXPIRED",
        error_message=error["message"],
        retry_at=now if again else None,
    )
    event_record(
        type="job.lease_expired",
        subject=job,
        trace_id=job.trace_id,
        at=now,
        data={"worker": job.locked_by, "attempt": job.attempts, "state": job.state},
    )
    if again:
        doorbell.ring(job.queue)


@transaction.atomic
def jobs_age(*, now: datetime) -> int:
    step = timedelta(seconds=settings.CONDUCTOR_ENGINE_AGING_S)
    aged = 0
    for levels in range(
        int(Priority.CRITICAL), 0, -1
    ):  # most aged first: one write each
        target = Least(F("base_priority") + levels, Value(int(Priority.CRITICAL)))
        aged += Job.objects.filter(
            state=JobState.PENDING, run_at__lte=now - levels * step, priority__lt=target
        ).update(priority=target)
    if aged:
        event_record(
            type="engine.jobs_aged",
            subject=("engine", "sweeper"),
            at=now,
            data={"count": aged, "aging_s": step.total_seconds()},
        )
    return aged
