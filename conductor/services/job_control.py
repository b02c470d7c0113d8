"""What actors do to jobs: cancel (graceful or forced), retry, resume.

Each is a validated transition (``job_transition``) journalled with the actor, plus
the dependents' follow-up when a job becomes final.
"""

from django.db import transaction
from django.utils import timezone

from conductor import dependencies, doorbell
from conductor.errors import Conflict, FieldError, ValidationFailed
from conductor.models import Job, JobDependency, RetryAttempt
from conductor.selectors import job_get
from conductor.services.dependencies import dependency_states, dependents_resolve
from conductor.services.events import event_record
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
        dependents_resolve(finished=[job.id], actor=actor)
    return job_get(id=job_id)


def _request_stop(job: Job, fields: dict, actor: str) -> None:
    now = timezone.now()
    asked = Job.objects.filter(id=job.id, state=JobState.RUNNING).update(
        cancel_requested_at=now, updated_at=now, **fields
    )
    if not asked:  # it ended meanwhile
        raise Conflict("the job ended before the cancel request arrived")
    event_record(
        type="job.cancel_requested",
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
        event="job.cancelled",
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
def job_retry(*, job_id: str, actor: str, reason: str = "") -> Job:
    """Run a failed or dead job again: one more attempt."""
    job = job_get(id=job_id)
    if job.state not in (JobState.FAILED, JobState.DEAD):
        raise Conflict(
            f"only failed or dead jobs can be retried; this one is {job.state}"
        )
    _requeue(job, event="job.retried", actor=actor, data={"reason": reason})
    if job.state == JobState.DEAD:
        from recovery.services import dead_letters_close_for_job

        dead_letters_close_for_job(
            job_id=job.id, actor=actor, notes=f"retried: {reason}".strip()[:5000]
        )
    return job_get(id=job_id)


@transaction.atomic
def job_resume(*, job_id: str, actor: str) -> Job:
    """Put a cancelled job back in the queue."""
    job = job_get(id=job_id)
    if job.state != JobState.CANCELLED:
        raise Conflict(f"only cancelled jobs can be resumed; this one is {job.state}")
    _requeue(job, event="job.resumed", actor=actor, data={})
    return job_get(id=job_id)


def _requeue(job: Job, *, event: str, actor: str, data: dict) -> None:
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
    decision = dependencies.decide(
        mode=job.dependency_mode,
        on_failure=job.on_dependency_failure,
        states=states,
        retries_used=job.dependency_retries,
    )
    if isinstance(decision, dependencies.Abort):
        failed = ", ".join(decision.failed)
        raise Conflict(
            f"its dependencies ended without success ({failed}); retry those first"
        )
    if isinstance(decision, dependencies.Ready):
        return JobState.PENDING
    return JobState.WAITING
