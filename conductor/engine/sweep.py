"""The sweeper (run by beat every ``CONDUCTOR_ENGINE_SWEEP_INTERVAL_S``).

1. Jobs whose lease ran out (their worker died or hung): the attempt in flight failed
   with ``LEASE_EXPIRED``, and that failure goes through the same decisions as any
   other (retry with backoff, error rules, the breaker, the dead-letter queue);
   ``job.lease_expired`` is journalled before the outcome's own events.
2. The safety net: waiting jobs whose dependencies have all ended are decided again
   (``waiting_recover``); a release is missed only by a fault, and what this moves is
   journalled (``engine.waiting_released``).
3. Pending jobs age: one priority level per ``CONDUCTOR_ENGINE_AGING_S`` of waiting
   past their ``run_at``, up to critical, so low-priority work never starves (the
   rule of ``conductor.priorities.aged``, applied in three UPDATEs).
Doorbells for due work are rung by the more frequent tick (``conductor.engine.tick``):
a lost message costs at most one tick.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least, Now

from conductor import doorbell
from conductor.engine.claim import ClaimedJob
from conductor.engine.complete import OUTCOME_STATES, complete_batch
from conductor.engine.dependents import waiting_follow
from conductor.engine.execute import Finished, Ran
from conductor.engine.judge import judge_batch
from conductor.journal.catalogue import (
    ENGINE_JOBS_AGED,
    ENGINE_WAITING_RELEASED,
    JOB_LEASE_EXPIRED,
)
from conductor.journal.writer import NewEvent, event_record, events_record
from conductor.models import Job, Priority, RetryAttempt
from conductor.outcomes import ErrorInfo
from conductor.services.transitions import jobs_transition
from conductor.states import ACTIVE, JobState

EXPIRED_BATCH = 500
WAITING_BATCH = 500


def sweep(*, now: datetime) -> dict:
    """Leases, aging, the waiting jobs' safety net; doorbells are the tick's job."""
    expired = leases_reclaim(now=now)
    aged = jobs_age(now=now)
    released = waiting_recover(now=now)
    return {"lease_expired": expired, "aged": aged, "waiting_released": released}


@transaction.atomic
def waiting_recover(*, now: datetime) -> int:
    """The safety net: waiting jobs none of whose dependencies is still active are
    decided again. A release is made when a dependency ends, so this finds nothing
    unless one was missed (a lost doorbell, a fault); what it moves is journalled."""
    stuck = list(
        Job.objects.filter(state=JobState.WAITING)
        .exclude(dependency_rows__depends_on__state__in=list(ACTIVE))
        .order_by("created_at")
        .values_list("id", flat=True)[:WAITING_BATCH]
    )
    if not stuck:
        return 0
    waiting_follow(job_ids=[str(job_id) for job_id in stuck], actor="sweeper")
    moved = list(
        Job.objects.filter(id__in=stuck)
        .exclude(state=JobState.WAITING)
        .values_list("id", flat=True)
    )
    if moved:
        event_record(
            type=ENGINE_WAITING_RELEASED,
            subject=("engine", "sweeper"),
            at=now,
            data={"count": len(moved), "ids": [str(job_id) for job_id in moved]},
        )
    return len(moved)


@transaction.atomic
def leases_reclaim(*, now: datetime) -> int:
    """Jobs whose lease ran out (by the database's clock, which every worker's
    lease was set by): taken back from the worker that stopped holding them."""
    expired = list(
        Job.objects.select_for_update(skip_locked=True)
        .filter(state=JobState.RUNNING, lease_expires_at__lt=Now())
        .order_by("lease_expires_at")[:EXPIRED_BATCH]
    )
    return reclaim(expired, now=now)


@transaction.atomic
def leases_recover_local(
    *, host: str, alive: Callable[[int], bool], now: datetime
) -> int:
    """At a worker's start: jobs still held by a process of this host that no longer
    exists are taken back at once, without waiting for their leases to run out (as
    Sidekiq's super_fetch does). A process id that is alive again (reused) is left to
    its lease."""
    held = Job.objects.select_for_update(skip_locked=True).filter(
        state=JobState.RUNNING, locked_by__startswith=f"{host}:"
    )
    gone = [job for job in held if not _alive(job.locked_by, alive)]
    return reclaim(gone, now=now)


def _alive(locked_by: str, alive: Callable[[int], bool]) -> bool:
    pid = locked_by.rpartition(":")[2]
    return not pid.isdigit() or alive(int(pid))


def reclaim(jobs: list[Job], *, now: datetime) -> int:
    """Take running jobs back from a worker that is gone (rows locked by the caller).

    A job its worker never reached (not marked started, no cancel pending) goes back
    to ``pending`` as it was, its attempt unused. Any other attempt failed with
    ``LEASE_EXPIRED``, and that goes the way of any failure: classified, backed off or
    dead-lettered, told to the job's breaker, followed by its dependents
    (``complete_batch``); or, with a graceful cancel pending, it ends cancelled.
    """
    unstarted = [
        j for j in jobs if j.attempt_started_at is None and not j.cancel_requested_at
    ]
    lost = [j for j in jobs if j not in unstarted]
    if unstarted:
        _put_back(unstarted, now)
    if lost:
        finished = judge_batch([_lost(job, now) for job in lost])
        events_record((_expired_event(f) for f in finished), at=now)
        complete_batch(finished=finished, worker="", now=now)
    return len(jobs)


def _never_started(job: Job) -> bool:
    return job.attempt_started_at is None and job.cancel_requested_at is None


def _put_back(jobs: list[Job], now: datetime) -> None:
    """Claimed but never started: back to ``pending``, the attempt not counted."""
    held = {str(job.id): job for job in jobs}
    RetryAttempt.objects.filter(
        job_id__in=list(held), status=RetryAttempt.Status.PENDING,
        attempt_number=F("job__attempts"),
    ).delete()  # fmt: skip
    jobs_transition(
        ids=list(held), expect=JobState.RUNNING, to=JobState.PENDING,
        event=JOB_LEASE_EXPIRED, now=now,
        data=lambda job_id: {"worker": held[job_id].locked_by,
                             "attempt": held[job_id].attempts, "started": False},
        changes={"attempts": F("attempts") - 1, "lease_expires_at": None,
                 "locked_by": ""},
    )  # fmt: skip
    for queue in {job.queue for job in jobs}:
        doorbell.ring(queue)


def _lost(job: Job, now: datetime) -> Ran:
    """The attempt of a job whose worker stopped holding it, as a failure; or, when a
    graceful cancel was asked for meanwhile, as the stop it asked for."""
    message = f"worker {job.locked_by or '?'} stopped holding the job"
    cancelled = job.cancel_requested_at is not None
    started = job.attempt_started_at or now
    return Ran(
        job=ClaimedJob(
            id=str(job.id), type=job.job_type_id, payload=job.payload,
            attempt=job.attempts, max_retries=job.max_retries,
            timeout_s=job.timeout_s, trace_id=job.trace_id,
            checkpoint=job.checkpoint,
            retry_policy=job.retry_policy, breaker=job.breaker, worker=job.locked_by,
        ),
        result=None,
        error=None if cancelled else ErrorInfo("LEASE_EXPIRED", message),
        cancelled=cancelled,
        finished_at=now,
        duration_ms=max(int((now - started).total_seconds() * 1000), 0),
    )  # fmt: skip


def _expired_event(f: Finished) -> NewEvent:
    data = {"worker": f.job.worker, "attempt": f.job.attempt, "started": True,
            "state": OUTCOME_STATES[type(f.outcome)]}  # fmt: skip
    return NewEvent(JOB_LEASE_EXPIRED, f.job.id, data, trace_id=f.job.trace_id)


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
            type=ENGINE_JOBS_AGED,
            subject=("engine", "sweeper"),
            at=now,
            data={"count": aged, "aging_s": step.total_seconds()},
        )
    return aged
