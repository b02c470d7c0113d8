"""Moving waiting jobs on when the jobs they wait for end.

Called inside the transaction that made jobs final (the engine's completion, a
cancel, the sweeper). Decisions come from the pure ``conductor.readiness``; this
module applies them, journals them, and follows the cascade: a dependent that fails or
is skipped is itself final, so its own dependents are looked at next; workflow runs
whose nodes are all final are settled at the end.

One decision is not applied here: ``retry`` asks for failed dependencies to run again,
and a dead one must leave the dead-letter queue as it does, which is recovery's
business. Such decisions come back as ``RetryAsk``s for the caller to carry out (the
engine does so at once, ``conductor.engine.dependents``; a core caller rings
``doorbell.ring_waiting`` so that a worker does it after the commit).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from conductor import doorbell, readiness
from conductor.journal.catalogue import JOB_FAILED, JOB_READY, JOB_SKIPPED
from conductor.models import Job, JobDependency
from conductor.services.transitions import job_transition
from conductor.states import JobState
from conductor.workflows.services import (
    SKIPPED,
    node_condition,
    node_condition_holds,
    workflow_runs_settle,
)


@dataclass(frozen=True)
class RetryAsk:
    """Waiting job ``job_id`` asks that its failed ``dependencies`` run again."""

    job_id: str
    dependencies: tuple[str, ...]


def dependents_resolve(
    *, finished: Iterable[str], actor: str = "system"
) -> list[RetryAsk]:
    """Move on the waiting dependents of ``finished`` jobs, and theirs, in cascade."""
    frontier = {str(job_id) for job_id in finished}
    runs: set[str] = set()
    asks: list[RetryAsk] = []
    while frontier:
        runs |= _runs_of(frontier)
        ids = JobDependency.objects.filter(
            depends_on_id__in=frontier, job__state=JobState.WAITING
        ).values_list("job_id", flat=True)
        frontier = _resolve(set(ids), actor, asks)
    workflow_runs_settle(run_ids=runs)
    return asks


def waiting_resolve(*, job_ids: Sequence[str], actor: str = "system") -> list[RetryAsk]:
    """Decide again for these waiting jobs (a ring, or the sweeper's safety net)."""
    asks: list[RetryAsk] = []
    final = _resolve({str(job_id) for job_id in job_ids}, actor, asks)
    if final:  # they may have dependents of their own, and runs to settle
        asks += dependents_resolve(finished=final, actor=actor)
    return asks


def dependency_retry_counted(*, job_id: str) -> None:
    """One more ``retry`` of a waiting job's dependencies was carried out."""
    Job.objects.filter(id=job_id).update(dependency_retries=F("dependency_retries") + 1)


def _runs_of(job_ids: set[str]) -> set[str]:
    rows = Job.objects.filter(id__in=job_ids, workflow_run__isnull=False)
    return {str(run) for run in rows.values_list("workflow_run_id", flat=True)}


def _resolve(ids: set[str], actor: str, asks: list[RetryAsk]) -> set[str]:
    """Apply the decision of each waiting job among ``ids``; those now final."""
    waiting = list(
        Job.objects.select_for_update()
        .filter(id__in=ids, state=JobState.WAITING)
        .order_by("created_at")
    )
    deps = dependency_states(job_ids=[job.id for job in waiting])
    newly_final: set[str] = set()
    for job in waiting:
        if _apply(job, deps[str(job.id)], actor, asks):
            newly_final.add(str(job.id))
    return newly_final


def dependency_states(*, job_ids: list) -> dict[str, dict[str, str]]:
    """For each job, its dependencies' ids and states."""
    rows = JobDependency.objects.filter(job_id__in=job_ids).values_list(
        "job_id", "depends_on_id", "depends_on__state"
    )
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for job_id, dep_id, state in rows:
        found[str(job_id)][str(dep_id)] = state
    return found


def _apply(job: Job, states: dict[str, str], actor: str, asks: list) -> bool:
    """Apply the decision for one waiting job; True when it became final."""
    cancelled = tuple(d for d, s in states.items() if s == JobState.CANCELLED)
    if job.workflow_run_id and cancelled and _any_skipped(cancelled):
        # A node below a skipped node is skipped too, whatever on_failure says.
        return _skip(job, "a parent node was skipped", actor)
    decision = readiness.decide(
        mode=job.dependency_mode,
        on_failure=job.on_dependency_failure,
        states=states,
        retries_used=job.dependency_retries,
    )
    if isinstance(decision, readiness.Ready):
        return _ready(job, actor)
    if isinstance(decision, readiness.Retry):
        if any(states[d] == JobState.CANCELLED for d in decision.dependencies):
            # Someone cancelled it on purpose: retrying would undo their decision.
            _abort(job, decision.dependencies, actor)
            return True
        asks.append(RetryAsk(str(job.id), decision.dependencies))
        return False
    if isinstance(decision, readiness.Abort):
        _abort(job, decision.failed, actor)
        return True
    return False


def _ready(job: Job, actor: str) -> bool:
    condition = node_condition(job)
    if condition is not None and not node_condition_holds(job, condition):
        return _skip(job, f"condition not met: {condition}", actor)
    job_transition(
        job_id=job.id,
        to=JobState.PENDING,
        expect=JobState.WAITING,
        event=JOB_READY,
        # Released now, but never before the run_at the submitter asked for.
        changes={"run_at": Greatest(F("run_at"), Value(timezone.now()))},
        actor=actor,
        trace_id=job.trace_id,
    )
    doorbell.ring(job.queue)
    return False


def _skip(job: Job, why: str, actor: str) -> bool:
    now = timezone.now()
    job_transition(
        job_id=job.id,
        to=JobState.CANCELLED,
        expect=JobState.WAITING,
        event=JOB_SKIPPED,
        data={"reason": why},
        actor=actor,
        trace_id=job.trace_id,
        changes={"cancel_reason": (SKIPPED + why)[:2000], "finished_at": now},
    )
    return True


def _abort(job: Job, failed: tuple[str, ...], actor: str) -> None:
    error = {
        "code": "DEPENDENCY_FAILED",
        "message": f"dependencies ended without success: {', '.join(failed)}",
    }
    job_transition(
        job_id=job.id,
        to=JobState.FAILED,
        expect=JobState.WAITING,
        event=JOB_FAILED,
        data={"error": error, "will_retry": False},
        actor=actor,
        changes={"error": error, "finished_at": timezone.now()},
        trace_id=job.trace_id,
    )


def _any_skipped(job_ids: tuple[str, ...]) -> bool:
    reasons = Job.objects.filter(id__in=job_ids).values_list("cancel_reason", flat=True)
    return any(reason.startswith(SKIPPED) for reason in reasons)
