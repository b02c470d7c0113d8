"""Workflows: named DAG definitions, validated at submit; a run turns nodes into jobs.

A run writes one job per node in one transaction: roots ``pending``, the others
``waiting`` on their parents (``all`` must succeed, the definition's ``on_failure``
decides what a failed parent does). Conditions on a parent's result are evaluated when
a node's parents are done (``conductor.services.dependencies`` asks ``condition_holds``
here); a node whose condition does not hold is skipped, and so are its descendants.
A run ends (``workflow_runs_settle``) in the transaction that made its last node final.

Workflows live in the core app, beside the jobs and dependencies they are made of:
every place a job ends must settle its run in that same transaction (see
docs/decisions.md).
"""

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conductor import names, registry
from conductor.errors import Conflict, FieldError, ValidationFailed
from conductor.journal.catalogue import (
    WORKFLOW_COMPENSATING,
    WORKFLOW_CREATED,
    WORKFLOW_FAILED,
    WORKFLOW_STARTED,
    WORKFLOW_SUCCEEDED,
)
from conductor.journal.writer import event_record
from conductor.models import DependencyFailure, Job
from conductor.services.payloads import payload_errors, payload_sealed
from conductor.services.submit import JobRequest, jobs_submit
from conductor.states import FINAL, JobState
from conductor.workflows import conditions, dag
from conductor.workflows.models import Workflow, WorkflowRun

log = logging.getLogger(__name__)

#: A node cancelled because its condition did not hold (or a parent was skipped)
#: carries this prefix in ``cancel_reason``; a run with only successes and such
#: skips succeeded.
SKIPPED = "skipped: "
#: The ``workflow_node`` of a node's compensation job is the node's id and this.
COMPENSATION = ":compensate"


def _plan(definition: Any):
    """The DAG checked, and every node's payload against its job type's schema."""
    known = [spec.name for spec in registry.all_specs()]
    plan = dag.validate(definition, known_types=known)
    errors = []
    for index, node in enumerate(plan.nodes.values()):
        errors += payload_errors(node.type, node.payload, f"nodes[{index}].payload")
        if node.compensate is not None:
            compensate = node.compensate
            errors += payload_errors(
                compensate["type"], compensate["payload"],
                f"nodes[{index}].compensate.payload",
            )  # fmt: skip
    if errors:
        raise dag.DagInvalid(errors)
    return plan


def _sealed(definition: dict) -> dict:
    """A valid definition with its payloads' secret values sealed, to be stored."""

    def sealed(item: dict) -> dict:
        if "payload" not in item:
            return item
        return {**item, "payload": payload_sealed(item["type"], item["payload"])}

    nodes = []
    for node in definition["nodes"]:
        node = sealed(node)
        if isinstance(node.get("compensate"), dict):
            node = {**node, "compensate": sealed(node["compensate"])}
        nodes.append(node)
    return {**definition, "nodes": nodes}


def workflow_validate(*, definition: Any):
    """The plan (order, levels) of a definition, or ``DagInvalid`` naming problems."""
    return _plan(definition)


def _node_errors(errors: list[FieldError], plan) -> list[FieldError]:
    position = {node_id: i for i, node_id in enumerate(plan.nodes)}
    renamed = []
    for error in errors:
        head, _, rest = error.field.partition("].")
        order_index = int(head.removeprefix("jobs["))
        node = position[plan.order[order_index]]
        renamed.append(FieldError(f"nodes[{node}].{rest}", error.message, error.code))
    return renamed


@transaction.atomic
def workflow_create(
    *, name: str, definition: Any, actor: str, description: str = ""
) -> Workflow:
    names.checked(name)
    plan = _plan(definition)
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                name=name,
                definition=_sealed(definition),
                description=description,
                created_by=actor,
            )
    except IntegrityError:
        raise Conflict(f"a workflow named {name!r} exists already") from None
    event_record(
        type=WORKFLOW_CREATED,
        subject=workflow,
        actor=actor,
        data={"name": name, "nodes": len(plan.nodes)},
    )
    return workflow


@transaction.atomic
def workflow_run(
    *,
    workflow: Workflow | None = None,
    definition: Any = None,
    actor: str,
    trace_id: str = "",
    priority: str | None = None,
) -> WorkflowRun:
    """Start a run of a stored workflow (or of an inline definition)."""
    definition = workflow.definition if workflow is not None else definition
    plan = _plan(definition)
    run = WorkflowRun.objects.create(
        workflow=workflow, definition=_sealed(definition), created_by=actor,
        trace_id=trace_id,
    )  # fmt: skip
    ids = {node_id: uuid.uuid4() for node_id in plan.nodes}
    requests = [
        JobRequest(
            type=node.type,
            payload=node.payload,
            priority=node.priority or priority,
            depends_on=tuple(str(ids[p]) for p in node.depends_on),
            on_dependency_failure=plan.on_failure,
            id=ids[node.id],
            workflow_run_id=run.id,
            workflow_node=node.id,
        )
        for node in (plan.nodes[node_id] for node_id in plan.order)
    ]
    try:
        jobs_submit(requests=requests, actor=actor, trace_id=trace_id)
    except ValidationFailed as exc:  # name the node, not the job of the submit
        raise ValidationFailed(_node_errors(exc.errors, plan)) from None
    event_record(
        type=WORKFLOW_STARTED,
        subject=run,
        actor=actor,
        trace_id=trace_id,
        data={"workflow": workflow.name if workflow else None, "nodes": len(ids)},
    )
    return run


def node_condition(job: Job) -> dict | None:
    """The condition of a workflow node's job (None: it always runs)."""
    if not job.workflow_run_id:
        return None
    nodes = job.workflow_run.definition.get("nodes", [])
    node = next((n for n in nodes if n.get("id") == job.workflow_node), {})
    return node.get("condition")


def node_condition_holds(job: Job, condition: dict) -> bool:
    """Whether ``condition`` holds on the results of the node's run so far."""
    results = dict(
        Job.objects.filter(workflow_run_id=job.workflow_run_id).values_list(
            "workflow_node", "result"
        )
    )
    return conditions.condition_holds(condition, results)


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
            type=WORKFLOW_SUCCEEDED if ok else WORKFLOW_FAILED,
            subject=run,
            trace_id=run.trace_id,
            data={"workflow": run.workflow.name if run.workflow else None},
        )
        if not ok:
            _compensate(run)


def _compensate(run: WorkflowRun) -> None:
    """Undo a failed run (saga): the compensations of its succeeded nodes run one
    after another, the last node first (``dag.compensation_order``), each once the one
    before has ended however it ended. They are jobs of the run, named
    ``<node>:compensate``, recorded like any job; the run has ended already, so they
    do not change how it ended."""
    try:  # valid when the run began; a job type may have gone since
        known = [spec.name for spec in registry.all_specs()]
        plan = dag.validate(run.definition, known_types=known)
    except dag.DagInvalid as exc:
        log.warning("run %s not compensated: its definition is no longer valid: %s",
                    run.id, exc.errors)  # fmt: skip
        return
    succeeded = run.jobs.filter(state=JobState.SUCCEEDED).values_list(
        "workflow_node", flat=True
    )
    order = dag.compensation_order(plan, list(succeeded))
    if not order:
        return
    ids = [uuid.uuid4() for _ in order]
    requests = [
        JobRequest(
            type=plan.nodes[node_id].compensate["type"],
            payload=plan.nodes[node_id].compensate["payload"],
            depends_on=(str(ids[i - 1]),) if i else (),
            on_dependency_failure=DependencyFailure.CONTINUE,
            id=ids[i],
            workflow_run_id=run.id,
            workflow_node=f"{node_id}{COMPENSATION}",
        )
        for i, node_id in enumerate(order)
    ]
    try:
        with transaction.atomic():
            jobs_submit(
                requests=requests, actor=f"workflow-run:{run.id}", trace_id=run.trace_id
            )
    except ValidationFailed as exc:  # checked at start; a type may have changed since
        log.warning("run %s not compensated: %s", run.id, exc.errors)
        return
    event_record(
        type=WORKFLOW_COMPENSATING, subject=run, trace_id=run.trace_id,
        data={"workflow": run.workflow.name if run.workflow else None,
              "nodes": order, "jobs": [str(i) for i in ids]},
    )  # fmt: skip
