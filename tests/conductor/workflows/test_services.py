"""Workflow services, called directly: definitions stored after validation, a run made
of jobs, runs settled in the transaction that ends their last node."""

import pytest

from conductor.errors import Conflict, ValidationFailed
from conductor.models import Event, Job
from conductor.workflows import services
from conductor.workflows.dag import DagInvalid
from conductor.workflows.models import Workflow, WorkflowRun
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

DIAMOND = {
    "nodes": [
        {"id": "a", "type": "demo.noop"},
        {"id": "b", "type": "demo.noop", "depends_on": ["a"]},
        {"id": "c", "type": "demo.noop", "depends_on": ["a"],
         "condition": {"node": "a", "path": "ok", "op": "eq", "value": False}},
        {"id": "d", "type": "demo.noop", "depends_on": ["b", "c"],
         "compensate": {"type": "demo.noop"}},
    ]
}  # fmt: skip


def _nodes(run):
    jobs = Job.objects.filter(workflow_run=run)
    return dict(jobs.values_list("workflow_node", "state"))


def test_create_stores_a_valid_definition_and_journals_it():
    workflow = services.workflow_create(name="diamond", definition=DIAMOND, actor="me")
    assert Workflow.objects.get(name="diamond").definition == DIAMOND
    event = Event.objects.get(type="workflow.created")
    assert (event.actor, event.data) == ("me", {"name": "diamond", "nodes": 4})
    with pytest.raises(Conflict):
        services.workflow_create(name=workflow.name, definition=DIAMOND, actor="me")


@pytest.mark.parametrize(
    ("name", "definition", "field"),
    [
        ("bad name!", DIAMOND, "name"),  # names stand in URLs
        ("ok", {"nodes": []}, "nodes"),  # a DAG with nodes
        ("ok", {"nodes": [{"id": "a", "type": "nope"}]}, "nodes[0].type"),
        (
            "ok",
            {"nodes": [{"id": "a", "type": "demo.sleep"}]},
            "nodes[0].payload.seconds",
        ),
    ],
)
def test_create_refuses_what_is_invalid_naming_the_field(name, definition, field):
    with pytest.raises(ValidationFailed) as info:
        services.workflow_create(name=name, definition=definition, actor="me")
    assert field in [e.field for e in info.value.errors]
    assert Workflow.objects.count() == 0


def test_a_run_makes_one_job_per_node_roots_first():
    workflow = services.workflow_create(name="diamond", definition=DIAMOND, actor="me")
    run = services.workflow_run(workflow=workflow, actor="me")
    assert _nodes(run) == {
        "a": "pending",
        "b": "waiting",
        "c": "waiting",
        "d": "waiting",
    }
    assert Event.objects.get(type="workflow.started").data == {
        "workflow": "diamond", "nodes": 4,
    }  # fmt: skip


def test_a_run_skips_a_false_branch_and_settles_when_its_last_node_ends():
    run = services.workflow_run(definition=DIAMOND, actor="me")
    run_due_jobs()
    assert _nodes(run) == {"a": "succeeded", "b": "succeeded", "c": "cancelled",
                           "d": "cancelled"}  # fmt: skip
    run.refresh_from_db()
    # c's condition did not hold, so c and d below it were skipped: a success.
    assert run.state == WorkflowRun.State.SUCCEEDED and run.finished_at is not None
    assert Event.objects.filter(type="workflow.succeeded").count() == 1


def test_a_run_fails_when_a_node_fails_for_good():
    definition = {
        "nodes": [
            {"id": "a", "type": "demo.flaky",
             "payload": {"fail_rate": 1, "error_code": "VALIDATION_ERROR"}},
            {"id": "b", "type": "demo.noop", "depends_on": ["a"]},
        ]
    }  # fmt: skip
    run = services.workflow_run(definition=definition, actor="me")
    run_due_jobs()
    assert _nodes(run) == {"a": "dead", "b": "failed"}
    run.refresh_from_db()
    assert run.state == WorkflowRun.State.FAILED
    assert Event.objects.filter(type="workflow.failed").count() == 1


def test_validate_returns_the_plan_or_names_the_problem():
    plan = services.workflow_validate(definition=DIAMOND)
    assert plan.order == ("a", "b", "c", "d")
    assert plan.levels == (("a",), ("b", "c"), ("d",))
    cyclic = {"nodes": [{"id": "a", "type": "demo.noop", "depends_on": ["a"]}]}
    with pytest.raises(DagInvalid):
        services.workflow_validate(definition=cyclic)
