"""Moving waiting jobs on when the jobs they wait for end (and settling workflow runs).

Called inside the transaction that made jobs final (the engine's completion, a
cancel, the sweeper). Decisions come from the pure ``conductor.dependencies``; this
module applies them, journals them, and follows the cascade: a dependent that fails or
is skipped is itself final, so its own dependents are looked at next.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from conductor import dependencies, doorbell
from conductor.models import Job, JobDependency, WorkflowRun
from conductor.services.events import event_record
from conductor.services.transitions import job_transition
from conductor.states import FINAL, JobState

SKIPPED = "skipped: "


def dependents_resolve(*, finished: Iterable[str], actor: str = "system") -> None:
    frontier = {str(job_id) for job_id in finished}
    runs: set[str] = set()
    while frontier:
        runs |= _runs_of(frontier)
        frontier = _resolve_round(frontier, actor)
    workflow_runs_settle(run_ids=runs)


def _runs_of(job_ids: set[str]) -> set[str]:
    rows = Job.objects.filter(id__in=job_ids, workflow_run__isnull=False)
    return {str(run) for run in rows.values_list("workflow_run_id", flat=True)}


def _resolve_round(finished: set[str], actor: str) -> set[str]:
    ids = JobDependency.objects.filter(
        depends_on_id__in=finished, job__state=JobState.WAITING
    ).values_list("job_id", flat=True)
    waiting = list(
        Job.objects.select_for_update()
        .filter(id__in=set(ids), state=JobState.WAITING)
        .order_by("created_at")
    )
    deps = dependency_states(job_ids=[job.id for job in waiting])
    newly_final: set[str] = set()
    for job in waiting:
        if _apply(job, deps[str(job.id)], actor):
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


def _apply(job: Job, states: dict[str, str], actor: str) -> bool:
    """Apply the decision for one waiting job; True when it became final."""
    cancelled = tuple(d for d, s in states.items() if s == JobState.CANCELLED)
    if job.workflow_run_id and cancelled and _any_skipped(cancelled):
        # A node below a skipped node is skipped too, whatever on_failure says.
        return _skip(job, "a parent node was skipped", actor)
    decision = dependencies.decide(
        mode=job.dependency_mode,
        on_failure=job.on_dependency_failure,
        states=states,
        retries_used=job.dependency_retries,
    )
    if isinstance(decision, dependencies.Ready):
        return _ready(job, actor)
    if isinstance(decision, dependencies.Retry):
        if any(states[d] == JobState.CANCELLED for d in decision.dependencies):
            # Someone cancelled it on purpose: retrying would undo their decision.
            _abort(job, decision.dependencies, actor)
            return True
        _retry_dependencies(job, decision.dependencies, actor)
        return False
    if isinstance(decision, dependencies.Abort):
        _abort(job, decision.failed, actor)
        return True
    return False


def _ready(job: Job, actor: str) -> bool:
    condition = _condition_of(job)
    if condition is not None and not _condition_holds(job, condition):
        return _skip(job, f"condition not met: {condition}", actor)
    job_transition(
        job_id=job.id,
        to=JobState.PENDING,
        expect=JobState.WAITING,
        event="job.ready",
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
        event="job.skipped",
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
        event="job.failed",
        data={"error": error, "will_retry": False},
        actor=actor,
        changes={"error": error, "finished_at": timezone.now()},
        trace_id=job.trace_id,
    )


def _retry_dependencies(job: Job, failed: tuple[str, ...], actor: str) -> None:
    Job.objects.filter(id=job.id).update(dependency_retries=F("dependency_retries") + 1)
    from conductor.services.job_control import job_retry

    for dep_id in failed:
        job_retry(job_id=dep_id, actor=actor, reason=f"retried for dependent {job.id}")


def _any_skipped(job_ids: tuple[str, ...]) -> bool:
    reasons = Job.objects.filter(id__in=job_ids).values_list("cancel_reason", flat=True)
    return any(reason.startswith(SKIPPED) for reason in reasons)


def _condition_of(job: Job):
    if not job.workflow_run_id:
        return None
    nodes = job.workflow_run.definition.get("nodes", [])
    node = next((n for n in nodes if n.get("id") == job.workflow_node), {})
    return node.get("condition")


def _condition_holds(job: Job, condition) -> bool:
    from scheduling import dag

    results = dict(
        Job.objects.filter(workflow_run_id=job.workflow_run_id).values_list(
            "workflow_node", "result"
        )
    )
    return dag.condition_holds(condition, results)


def workflow_runs_settle(*, run_ids: Iterable[str]) -> None:
    """End every given run whose node jobs are all final, and journal how it ended."""
    for run in WorkflowRun.objects.select_for_update().filter(
        id__in=list(run_ids), state=WorkflowRun.State.RUNNING
    ):
        jobs = list(run.jobs.values_list("state", "cancel_reason"))
        if any(state not in FINAL for state, _ in jobs):
            continue
        ok = all(
            s == JobState.SUCCEEDED
            or (s == JobState.CANCELLED and r.startswith(SKIPPED))
            for s, r in jobs
        )
        run.state = WorkflowRun.State.SUCCEEDED if ok else WorkflowRun.State.FAILED
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "finished_at"])
        event_record(
            type=f"workflow.{run.state}",
            subject=run,
            trace_id=run.trace_id,
            data={"workflow": run.workflow.name if run.workflow else None},
        )
