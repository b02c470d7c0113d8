"""What actors do to jobs: cancel (graceful or forced) and resume; the requeue that
resume and recovery's retry (``recovery.services.job_retry``) share.

Each is a validated transition (``job_transition``) journalled with the actor, plus
the dependents' follow-up when a job becomes final.
"""

from django.db import transaction
from django.utils import timezone

from conductor import doorbell, readiness
from conductor.errors import Conflict, FieldError, ValidationFailed
from conductor.journal.catalogue import (
    JOB_CANCEL_REQUESTED,
    JOB_CANCELLED,
    JOB_RESUMED,
    EventType,
)
from conductor.journal.writer import event_record
from conductor.models import Job, JobDependency, RetryAttempt
from conductor.selectors import job_get
from conductor.services.dependencies import dependency_states, dependents_resolve
from conductor.services.transitions import job_transition
from conductor.states import FINAL, JobState

CANCEL_MODES = ("graceful", "forced")
BEFORE_RUNNING = (JobState.PENDING, JobState.WAITING, JobState.PARKED)


def _check_cancel(reason: str, mode: str) -> None:
    errors = []
    if not reason or not reason.strip():
        errors.append(FieldError("reason", "a reason is required", "required"))
    elif len(reason) > 2000:
        errors.append(FieldError("reason", "at most 2000 characters", "too_long"))
    if mode not in CANCEL_MODES:
        errors.append(
            FieldError("mode", "must be graceful or forced", "invalid_choice")
        )
    if errors:
        raise ValidationFailed(errors)


@transaction.atomic
def job_cancel(
    *,
    job_id: str,
    reason: str,
    actor: str,
    mode: str = "graceful",
    propagate: bool = False,
) -> Job:
    """Cancel a job; a graceful cancel of a running job asks its handler to stop."""
    _check_cancel(reason, mode)
    job = job_get(id=job_id)
    if job.state in FINAL:
        raise Conflict(f"the job already ended ({job.state}); nothing to cancel")
    fields = {"cancel_reason": reason, "cancel_mode": mode, "cancelled_by": actor}
    if job.state == JobState.RUNNING and mode == "graceful":
        _request_stop(job, fields, actor)
    else:
        _cancel_now(job, fields, actor)
    if propagate:  # before the dependents are resolved, which would fail them
        _propagate(job, reason, actor, mode)
    if job.state != JobState.RUNNING or mode == "forced":
        asks = dependents_resolve(finished=[job.id], actor=actor)
        doorbell.ring_waiting([ask.job_id for ask in asks])
    return job_get(id=job_id)


def _request_stop(job: Job, fields: dict, actor: str) -> None:
    now = timezone.now()
    asked = Job.objects.filter(id=job.id, state=JobState.RUNNING).update(
        cancel_requested_at=now, updated_at=now, **fields
    )
    if not asked:  # it ended meanwhile
        raise Conflict("the job ended before the cancel request arrived")
    event_record(
        type=JOB_CANCEL_REQUESTED,
        subject=job,
        actor=actor,
        trace_id=job.trace_id,
        data={"reason": fields["cancel_reason"], "mode": "graceful"},
    )


def _cancel_now(job: Job, fields: dict, actor: str) -> None:
    now = timezone.now()
    changes = {**fields, "finished_at": now, "lease_expires_at": None, "locked_by": ""}
    job_transition(
        job_id=job.id,
        to=JobState.CANCELLED,
        expect=job.state,
        event=JOB_CANCELLED,
        data={"reason": fields["cancel_reason"], "mode": fields["cancel_mode"]},
        changes=changes,
        actor=actor,
        trace_id=job.trace_id,
    )
    if job.state == JobState.RUNNING:  # forced: the attempt in flight ends here
        RetryAttempt.objects.filter(
            job=job, attempt_number=job.attempts, status=RetryAttempt.Status.PENDING
        ).update(
            status=RetryAttempt.Status.FAILED,
            finished_at=now,
            error_code="CANCELLED",
            error_message=f"cancelled by {actor}: {fields['cancel_reason']}"[:4000],
        )


def _propagate(job: Job, reason: str, actor: str, mode: str) -> None:
    rows = JobDependency.objects.filter(depends_on=job).values_list("job_id", flat=True)
    for dependent in Job.objects.filter(id__in=list(rows)).exclude(state__in=FINAL):
        job_cancel(
            job_id=dependent.id,
            actor=actor,
            mode=mode,
            propagate=True,
            reason=f"propagated from {job.id}: {reason}"[:2000],
        )


@transaction.atomic
def job_resume(*, job_id: str, actor: str) -> Job:
    """Put a cancelled job back in the queue."""
    job = job_get(id=job_id)
    if job.state != JobState.CANCELLED:
        raise Conflict(f"only cancelled jobs can be resumed; this one is {job.state}")
    job_requeue(job=job, event=JOB_RESUMED, actor=actor, data={})
    return job_get(id=job_id)


def job_requeue(*, job: Job, event: EventType, actor: str, data: dict) -> None:
    """Put a failed, dead or cancelled job back: ``pending``, or ``waiting`` when its
    dependencies are not done yet (one more attempt is allowed). Used by resume here
    and by recovery's retry."""
    target = _target_state(job)
    changes = {
        "run_at": timezone.now(),
        "finished_at": None,
        "lease_expires_at": None,
        "locked_by": "",
        "max_retries": max(job.max_retries, job.attempts),
        "cancel_requested_at": None,
        "cancel_mode": "",
        "cancel_reason": "",
        "cancelled_by": "",
    }
    job_transition(
        job_id=job.id,
        to=target,
        expect=job.state,
        event=event,
        data=data,
        changes=changes,
        actor=actor,
        trace_id=job.trace_id,
    )
    if target == JobState.PENDING:
        doorbell.ring(job.queue)


def _target_state(job: Job) -> str:
    states = dependency_states(job_ids=[job.id]).get(str(job.id))
    if not states:
        return JobState.PENDING
    decision = readiness.decide(
        mode=job.dependency_mode,
        on_failure=job.on_dependency_failure,
        states=states,
        retries_used=job.dependency_retries,
    )
    if isinstance(decision, readiness.Abort):
        failed = ", ".join(decision.failed)
        raise Conflict(
            f"its dependencies ended without success ({failed}); retry those first"
        )
    if isinstance(decision, readiness.Ready):
        return JobState.PENDING
    return JobState.WAITING
