"""Compensation (SPEC §2, saga): when a run fails, the compensations of its succeeded
nodes run one after another, the last node first, recorded like any job."""

import pytest

from conductor.errors import ValidationFailed
from conductor.models import Event, Job
from conductor.workflows import services
from conductor.workflows.models import WorkflowRun
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db


def _undo(step: str, type_: str = "test.echo") -> dict:
    payload = {"code": "UNDO_FAILED"} if type_ == "test.fail" else {"undo": step}
    return {"type": type_, "payload": payload}


def _saga(*, last="test.fail", undo_b="test.echo") -> dict:
    return {
        "nodes": [
            {"id": "a", "type": "test.echo", "payload": {"do": "a"},
             "compensate": _undo("a")},
            {"id": "side", "type": "test.echo"},  # succeeds, nothing to undo
            {"id": "b", "type": "test.echo", "depends_on": ["a"],
             "compensate": _undo("b", undo_b)},
            {"id": "c", "type": last, "depends_on": ["b"], "compensate": _undo("c")},
        ]
    }  # fmt: skip


def _finished_order(run) -> list[str]:
    """The run's nodes in the order they ended (by their final events)."""
    ids = {str(j.id): j.workflow_node for j in Job.objects.filter(workflow_run=run)}
    ended = Event.objects.filter(
        subject_id__in=ids, type__in=["job.succeeded", "job.dead_lettered"]
    ).order_by("id")
    return [ids[e.subject_id] for e in ended]


def test_a_failed_run_undoes_its_completed_nodes_last_first():
    run = services.workflow_run(definition=_saga(), actor="me", trace_id="t-saga")
    run_due_jobs()
    run.refresh_from_db()
    assert run.state == WorkflowRun.State.FAILED

    jobs = {j.workflow_node: j for j in Job.objects.filter(workflow_run=run)}
    assert jobs["c"].state == "dead"
    assert "c:compensate" not in jobs  # c never completed: nothing to undo
    assert jobs["b:compensate"].payload == {"undo": "b"}
    assert jobs["b:compensate"].state == jobs["a:compensate"].state == "succeeded"
    assert jobs["a:compensate"].trace_id == "t-saga"
    order = _finished_order(run)
    assert order.index("b:compensate") < order.index("a:compensate")
    assert order.index("c") < order.index("b:compensate")
    # a's compensation waited for b's: they ran one after the other
    assert list(
        jobs["a:compensate"].dependency_rows.values_list("depends_on", flat=True)
    ) == [jobs["b:compensate"].id]

    event = Event.objects.get(type="workflow.compensating")
    assert event.subject_id == str(run.id)
    assert event.data["nodes"] == ["b", "a"]
    assert event.data["jobs"] == [
        str(jobs["b:compensate"].id),
        str(jobs["a:compensate"].id),
    ]
    run.refresh_from_db()
    assert run.state == WorkflowRun.State.FAILED  # compensating does not change that


def test_a_failed_compensation_does_not_stop_the_ones_before_it():
    run = services.workflow_run(definition=_saga(undo_b="test.fail"), actor="me")
    run_due_jobs()
    jobs = {j.workflow_node: j for j in Job.objects.filter(workflow_run=run)}
    assert jobs["b:compensate"].state == "dead"
    assert jobs["a:compensate"].state == "succeeded"


def test_a_run_that_succeeds_undoes_nothing():
    run = services.workflow_run(definition=_saga(last="test.echo"), actor="me")
    run_due_jobs()
    run.refresh_from_db()
    assert run.state == WorkflowRun.State.SUCCEEDED
    assert not Job.objects.filter(workflow_node__endswith=":compensate").exists()
    assert not Event.objects.filter(type="workflow.compensating").exists()


def test_a_compensation_payload_is_checked_when_the_run_begins():
    definition = _saga()
    definition["nodes"][0]["compensate"] = {"type": "test.fail", "payload": {"x": 1}}
    with pytest.raises(ValidationFailed) as info:
        services.workflow_run(definition=definition, actor="me")
    assert [e.field for e in info.value.errors] == ["nodes[0].compensate.payload"]
