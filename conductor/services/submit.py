"""Submitting jobs, one or ten thousand at a time; ringing the doorbell after commit.

Requests are validated and turned into rows by ``job_requests``, then written with
bulk inserts in one transaction through the one door (``transitions.jobs_create``),
together with their dependency rows and ``job.submitted`` events. An idempotency key
that was used before returns the job it made, never a second one.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conductor import doorbell, readiness
from conductor.errors import FieldError
from conductor.journal.catalogue import JOB_SUBMITTED
from conductor.journal.writer import NewEvent
from conductor.models import Job, JobDependency, Priority
from conductor.services import transitions
from conductor.services.job_requests import JobRequest, SubmitContext, rows_build
from conductor.states import JobState

__all__ = ["JobRequest", "job_submit", "jobs_submit"]


def job_submit(
    *,
    request: JobRequest,
    actor: str = "",
    trace_id: str = "",
    named_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Job, bool]:
    """Create a job (or return the one already made with this idempotency key)."""
    results = jobs_submit(
        requests=[request],
        actor=actor,
        trace_id=trace_id,
        bulk=False,
        named_policies=named_policies,
    )
    return results[0]


def jobs_submit(
    *,
    requests: Sequence[JobRequest | None],
    actor: str = "",
    trace_id: str = "",
    bulk: bool = True,
    errors: Sequence[FieldError] = (),
    materialize: bool = True,
    named_policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[tuple[Job | str, bool]]:
    """Create many jobs in one transaction; ``(job, created)`` per request, in order.

    ``errors`` are problems the caller found already (a request it could not read is
    ``None``): they are reported together with this function's own, in one answer.
    With ``materialize=False`` new jobs come back as their ids only (bulk answers need
    no more, and 10,000 model instances cost more than the insert).

    ``named_policies``: the fields of every named retry policy a request refers to
    (``retry_policy: "name"`` or ``{"name": …}``), as the caller read them
    (``recovery.selectors.retry_policies_named``); a name not among them is refused.
    """
    now = timezone.now()
    context = SubmitContext.load([r for r in requests if r is not None])
    context.named_policies = named_policies
    jobs = rows_build(requests, context, now, actor, trace_id, bulk, list(errors))
    for _attempt in range(3):
        try:
            with transaction.atomic():
                results = _write(requests, jobs, context, now, actor, trace_id)
            return [(_as(job, materialize), new) for job, new in results]
        except IntegrityError:
            # Another submit took one of our idempotency keys meanwhile: look again.
            context.refresh_keys(requests)
    raise IntegrityError("could not write the jobs after three tries")


def _as(job: Job | dict, materialize: bool) -> Job | str:
    if isinstance(job, Job):
        return job if materialize else str(job.id)
    return _model(job) if materialize else str(job["id"])


def _model(row: dict) -> Job:
    job = Job(**row)
    job._state.adding = False
    job._state.db = "default"
    return job


def _write(requests, rows, context: SubmitContext, now, actor, trace_id) -> list:
    results, new, actors, seen = [], [], [], {}
    context.lock_dependencies()
    for request, row in zip([r for r in requests if r], rows, strict=True):
        key = request.idempotency_key
        first = context.existing.get(key) or seen.get(key) if key else None
        if first is not None:
            results.append((first, False))
            continue
        _initial_state(row, request, context)
        new.append(row)
        actors.append(request.actor or actor)
        results.append((row, True))
        if key:
            seen[key] = row
    transitions.jobs_create(
        rows=new,
        events=[_submitted(row, by) for row, by in zip(new, actors, strict=True)],
        now=now,
        actor=actor,
        trace_id=trace_id,
    )
    _write_dependencies(new, requests, rows)
    due = {
        r["queue"] for r in new if r["state"] == JobState.PENDING and r["run_at"] <= now
    }
    for queue in due:
        doorbell.ring(queue)
    return results


def _initial_state(row: dict, request: JobRequest, context: SubmitContext) -> None:
    if not request.depends_on:
        return
    states = {str(d): context.dependencies[str(d)] for d in request.depends_on}
    decision = readiness.decide(
        mode=request.dependency_mode,
        on_failure=request.on_dependency_failure,
        states=states,
        retries_used=0,
    )
    if isinstance(decision, readiness.Abort):
        row["state"] = JobState.FAILED
        row["finished_at"] = row["created_at"]
        failed = ", ".join(decision.failed)
        row["error"] = {
            "code": "DEPENDENCY_FAILED",
            "message": f"dependencies ended without success: {failed}",
        }
    elif not isinstance(decision, readiness.Ready):
        row["state"] = JobState.WAITING


def _write_dependencies(new: list[dict], requests, rows) -> None:
    made = {row["id"] for row in new}
    wanted = [
        JobDependency(job_id=row["id"], depends_on_id=dep)
        for request, row in zip([r for r in requests if r], rows, strict=True)
        if row["id"] in made
        for dep in dict.fromkeys(str(d) for d in request.depends_on)
    ]
    if not wanted:
        return
    JobDependency.objects.bulk_create(wanted, batch_size=2000)
    targets = {str(dep.depends_on_id) for dep in wanted}
    Job.objects.filter(id__in=targets, has_dependents=False).update(has_dependents=True)
    # A new job whose rule is ``retry`` may wait on dependencies that already failed:
    # their retry is the engine's to carry out (a dead one leaves the DLQ).
    doorbell.ring_waiting(
        [
            row["id"]
            for row in new
            if row["state"] == JobState.WAITING
            and row["on_dependency_failure"] == "retry"
        ]
    )


def _submitted(row: dict, actor: str) -> NewEvent:
    data = {
        "type": row["job_type_id"],
        "priority": Priority(row["priority"]).label,
        "queue": row["queue"],
        "state": row["state"],
        "run_at": row["run_at"].isoformat(),
    }
    return NewEvent(JOB_SUBMITTED, str(row["id"]), data, actor, row["trace_id"])
