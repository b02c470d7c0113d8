"""Workflows through API v2 (PostgreSQL): definitions validated at submit, runs whose
nodes are jobs, conditions that skip branches, failures that fail the run."""

import pytest

from conductor.models import Event, Job, Workflow, WorkflowRun
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.observe import fields
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

WORKFLOWS = "/api/v2/workflows"
RUNS = "/api/v2/workflow-runs"


def _create(api, name, nodes, **extra):
    response = api.post_json(
        WORKFLOWS, {"name": name, "definition": {"nodes": nodes, **extra}}
    )
    assert response.status_code == 201, response.json()
    return response.json()["data"]


def _start(api, name, body=None):
    response = api.post_json(f"{WORKFLOWS}/{name}/run", body or {})
    assert response.status_code == 201, response.json()
    return response.json()["data"]


def _finish(api, run_id, rounds=10):
    """Drain until the run ends (each round is what a woken worker would do)."""
    for _ in range(rounds):
        run_due_jobs()
        data = api.get(f"{RUNS}/{run_id}").json()["data"]
        if data["state"] != "running":
            return data
    raise AssertionError(f"run {run_id} did not end: {data}")


def _by_node(run):
    return {node["node"]: node for node in run["nodes"]}


PIPELINE = [
    {"id": "fetch", "type": "test.echo", "payload": {"status": "ok", "count": 3}},
    {
        "id": "parse",
        "type": "test.echo",
        "payload": {"parsed": True},
        "depends_on": ["fetch"],
        "condition": {"node": "fetch", "path": "status", "op": "eq", "value": "ok"},
    },
    {
        "id": "bulk_path",
        "type": "test.echo",
        "depends_on": ["fetch"],
        "condition": {"node": "fetch", "path": "count", "op": "gt", "value": 10},
    },
    {"id": "bulk_report", "type": "test.echo", "depends_on": ["bulk_path"]},
    {
        "id": "report",
        "type": "test.echo",
        "payload": {"done": 1},
        "depends_on": ["parse"],
    },
]


# --- definitions ----------------------------------------------------------------------


def test_create_a_workflow(api):
    data = _create(api, "pipeline", PIPELINE)
    assert data["name"] == "pipeline"
    assert data["definition"]["nodes"] == PIPELINE
    assert data["created_by"] == "api-key:test-key"
    assert Workflow.objects.get(name="pipeline").definition["nodes"][0]["id"] == "fetch"
    event = Event.objects.get(type="workflow.created")
    assert event.data == {"name": "pipeline", "nodes": 5}


def test_an_invalid_definition_names_each_problem(api):
    nodes = [
        {"id": "a", "type": "test.echo"},
        {"id": "b", "type": "test.echo", "depends_on": ["nope"]},
        {"id": "c", "type": "test.echo", "priority": "urgent", "dependson": ["a"]},
    ]
    response = api.post_json(
        WORKFLOWS, {"name": "broken", "definition": {"nodes": nodes}}
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    errors = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert errors == {
        "nodes[1].depends_on[0]": "unknown_node",
        "nodes[2].dependson": "unknown_field",
        "nodes[2].priority": "invalid_choice",
    }
    assert not Workflow.objects.exists()


def test_a_cycle_is_refused_naming_it(api):
    nodes = [
        {"id": "start", "type": "test.echo"},
        {"id": "a", "type": "test.echo", "depends_on": ["start", "c"]},
        {"id": "b", "type": "test.echo", "depends_on": ["a"]},
        {"id": "c", "type": "test.echo", "depends_on": ["b"]},
    ]
    response = api.post_json(
        WORKFLOWS, {"name": "loop", "definition": {"nodes": nodes}}
    )
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "nodes[1].depends_on" and error["code"] == "cycle"
    assert "a → b → c → a" in error["message"]
    assert "a → b → c → a" in response.json()["detail"]
    assert not Workflow.objects.exists()


def test_an_unknown_job_type_is_refused(api):
    nodes = [{"id": "a", "type": "test.echo"}, {"id": "b", "type": "test.nope"}]
    response = api.post_json(WORKFLOWS, {"name": "x", "definition": {"nodes": nodes}})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "nodes[1].type" and error["code"] == "unknown_type"


def test_a_duplicate_name_conflicts(api):
    _create(api, "nightly", [{"id": "a", "type": "test.echo"}])
    response = api.post_json(
        WORKFLOWS,
        {
            "name": "nightly",
            "definition": {"nodes": [{"id": "b", "type": "test.echo"}]},
        },
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert Workflow.objects.get().definition["nodes"][0]["id"] == "a"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"definition": {"nodes": [{"id": "a", "type": "test.echo"}]}}, "name"),
        ({"name": "x"}, "definition"),
        ({"name": "x", "definition": {"nodes": []}}, "nodes"),
        ({"name": "x", "definition": []}, "definition"),
        (
            {
                "name": "x",
                "definition": {"nodes": [{"id": "a", "type": "test.echo"}]},
                "owner": "me",
            },
            "owner",
        ),
    ],
)
def test_malformed_create_bodies_are_named(api, body, field):
    response = api.post_json(WORKFLOWS, body)
    assert response.status_code == 400
    assert field in fields(response)
    assert not Workflow.objects.exists()


def test_a_node_payload_that_breaks_its_schema_is_refused_at_create(api):
    nodes = [
        {"id": "prepare", "type": "test.echo"},
        {"id": "nap", "type": "demo.sleep", "payload": {"seconds": "lots"}},
    ]
    response = api.post_json(WORKFLOWS, {"name": "bad", "definition": {"nodes": nodes}})
    assert response.status_code == 400
    assert fields(response) == ["nodes[1].payload.seconds"]
    assert not Workflow.objects.exists()


def test_validate_returns_order_roots_and_levels(api):
    response = api.post_json(
        f"{WORKFLOWS}/validate", {"definition": {"nodes": PIPELINE}}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["valid"] is True and data["nodes"] == 5
    assert data["order"] == ["fetch", "parse", "bulk_path", "bulk_report", "report"]
    assert data["roots"] == ["fetch"]
    assert data["levels"] == [
        ["fetch"],
        ["parse", "bulk_path"],
        ["bulk_report", "report"],
    ]
    assert not Workflow.objects.exists()  # validating stores nothing


def test_validate_orders_a_definition_written_out_of_order(api):
    nodes = [
        {"id": "last", "type": "test.echo", "depends_on": ["middle"]},
        {"id": "middle", "type": "test.echo", "depends_on": ["first"]},
        {"id": "first", "type": "test.echo"},
    ]
    data = api.post_json(f"{WORKFLOWS}/validate", {"definition": {"nodes": nodes}})
    assert data.json()["data"]["order"] == ["first", "middle", "last"]


def test_validate_refuses_an_invalid_definition(api):
    nodes = [{"id": "a", "type": "test.echo", "depends_on": ["a"]}]
    response = api.post_json(f"{WORKFLOWS}/validate", {"definition": {"nodes": nodes}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "nodes[0].depends_on[0]"
    assert response.json()["errors"][0]["code"] == "self_dependency"


def test_list_and_detail(api):
    _create(api, "zeta", [{"id": "a", "type": "test.echo"}])
    _create(api, "alpha", [{"id": "b", "type": "demo.noop"}])
    listed = api.get(WORKFLOWS)
    assert listed.status_code == 200
    assert [w["name"] for w in listed.json()["data"]] == ["alpha", "zeta"]
    detail = api.get(f"{WORKFLOWS}/zeta").json()["data"]
    assert detail["definition"] == {"nodes": [{"id": "a", "type": "test.echo"}]}
    assert api.get(f"{WORKFLOWS}/nothing").status_code == 404


# --- runs -----------------------------------------------------------------------------


def test_a_run_makes_one_job_per_node_roots_pending_others_waiting(api):
    _create(api, "pipeline", PIPELINE)
    run = _start(api, "pipeline")
    assert run["state"] == "running" and run["workflow"] == "pipeline"
    nodes = _by_node(run)
    assert set(nodes) == {"fetch", "parse", "bulk_path", "bulk_report", "report"}
    assert nodes["fetch"]["state"] == "pending"
    assert {nodes[n]["state"] for n in nodes if n != "fetch"} == {"waiting"}
    jobs = Job.objects.filter(workflow_run_id=run["id"])
    assert jobs.count() == 5
    assert {str(j.id) for j in jobs} == {n["job_id"] for n in run["nodes"]}
    parse = Job.objects.get(id=nodes["parse"]["job_id"])
    assert [str(d.depends_on_id) for d in parse.dependency_rows.all()] == [
        nodes["fetch"]["job_id"]
    ]
    assert Event.objects.filter(type="workflow.started", subject_id=run["id"]).exists()


def test_a_run_goes_to_the_end_skipping_a_false_branch(api):
    _create(api, "pipeline", PIPELINE)
    run = _start(api, "pipeline")
    done = _finish(api, run["id"])
    assert done["state"] == "succeeded" and done["finished_at"] is not None
    nodes = _by_node(done)
    assert {n: nodes[n]["state"] for n in nodes} == {
        "fetch": "succeeded",
        "parse": "succeeded",
        "report": "succeeded",
        "bulk_path": "cancelled",
        "bulk_report": "cancelled",
    }
    assert nodes["fetch"]["result"] == {"status": "ok", "count": 3}
    assert nodes["report"]["result"] == {"done": 1}
    assert nodes["bulk_path"]["cancel_reason"].startswith("skipped:")
    assert "condition" in nodes["bulk_path"]["cancel_reason"]
    assert nodes["bulk_report"]["cancel_reason"].startswith("skipped:")
    assert nodes["bulk_path"]["attempts"] == nodes["bulk_report"]["attempts"] == 0
    assert Event.objects.filter(
        type="workflow.succeeded", subject_id=run["id"]
    ).exists()
    assert Event.objects.filter(
        type="job.skipped", subject_id=nodes["bulk_report"]["job_id"]
    ).exists()


def test_a_failing_node_fails_the_run(api):
    _create(
        api,
        "fragile",
        [
            {"id": "start", "type": "test.echo"},
            {
                "id": "boom",
                "type": "test.fail",
                "payload": {"code": "BROKEN"},
                "depends_on": ["start"],
            },
            {"id": "after", "type": "test.echo", "depends_on": ["boom"]},
            {"id": "side", "type": "test.echo", "depends_on": ["start"]},
        ],
    )
    run = _start(api, "fragile")
    done = _finish(api, run["id"])
    assert done["state"] == "failed"
    nodes = _by_node(done)
    assert nodes["start"]["state"] == nodes["side"]["state"] == "succeeded"
    assert nodes["boom"]["state"] == "dead"
    assert Job.objects.get(id=nodes["boom"]["job_id"]).error["code"] == "BROKEN"
    after = Job.objects.get(id=nodes["after"]["job_id"])
    assert after.state == "failed" and after.error["code"] == "DEPENDENCY_FAILED"
    assert WorkflowRun.objects.get(id=run["id"]).state == "failed"
    assert Event.objects.filter(type="workflow.failed", subject_id=run["id"]).exists()


def test_on_failure_continue_runs_the_rest_but_the_run_still_fails(api):
    _create(
        api,
        "lenient",
        [
            {"id": "boom", "type": "test.fail"},
            {
                "id": "cleanup",
                "type": "test.echo",
                "payload": {"ran": True},
                "depends_on": ["boom"],
            },
        ],
        on_failure="continue",
    )
    done = _finish(api, _start(api, "lenient")["id"])
    nodes = _by_node(done)
    assert nodes["cleanup"]["state"] == "succeeded"
    assert nodes["cleanup"]["result"] == {"ran": True}
    assert done["state"] == "failed"  # one node did fail


def test_run_priority_applies_to_nodes_without_their_own(api):
    _create(
        api,
        "urgent",
        [
            {"id": "a", "type": "test.echo"},
            {"id": "b", "type": "test.echo", "priority": "low", "depends_on": ["a"]},
        ],
    )
    nodes = _by_node(_start(api, "urgent", {"priority": "critical"}))
    assert Job.objects.get(id=nodes["a"]["job_id"]).get_priority_display() == "critical"
    assert Job.objects.get(id=nodes["b"]["job_id"]).get_priority_display() == "low"


def test_run_body_is_checked(api):
    _create(api, "w", [{"id": "a", "type": "test.echo"}])
    bad = api.post_json(f"{WORKFLOWS}/w/run", {"priority": "asap"})
    assert bad.status_code == 400 and fields(bad) == ["priority"]
    unknown = api.post_json(f"{WORKFLOWS}/w/run", {"input": {}})
    assert unknown.status_code == 400 and fields(unknown) == ["input"]
    assert not WorkflowRun.objects.exists()


def test_running_an_unknown_workflow_and_reading_an_unknown_run(api):
    assert api.post_json(f"{WORKFLOWS}/ghost/run", {}).status_code == 404
    assert api.get(f"{RUNS}/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get(f"{RUNS}/not-a-uuid").status_code == 404


def test_node_payload_errors_at_run_name_the_node(api):
    # Stored before the type's schema changed: the run checks every payload again.
    Workflow.objects.create(
        name="stale",
        definition={
            "nodes": [
                {"id": "later", "type": "test.echo", "depends_on": ["nap"]},
                {"id": "nap", "type": "demo.sleep", "payload": {"minutes": 1}},
            ]
        },
    )
    response = api.post_json(f"{WORKFLOWS}/stale/run", {})
    assert response.status_code == 400
    assert sorted(fields(response)) == ["nodes[1].payload", "nodes[1].payload.seconds"]
    assert not WorkflowRun.objects.exists()
    assert not Job.objects.exists()


def test_a_skipped_branch_stays_skipped_when_failures_continue(api):
    _create(api, "lenient_pipeline", PIPELINE, on_failure="continue")
    done = _finish(api, _start(api, "lenient_pipeline")["id"])
    nodes = _by_node(done)
    assert nodes["bulk_path"]["cancel_reason"].startswith("skipped:")
    assert nodes["bulk_report"]["state"] == "cancelled"
    assert nodes["bulk_report"]["cancel_reason"].startswith("skipped:")
    assert done["state"] == "succeeded"


def test_on_failure_retry_reruns_the_failed_node_before_the_run_fails(api):
    _create(
        api,
        "stubborn",
        [
            {"id": "boom", "type": "test.fail"},
            {"id": "after", "type": "test.echo", "depends_on": ["boom"]},
        ],
        on_failure="retry",
    )
    done = _finish(api, _start(api, "stubborn")["id"])
    assert done["state"] == "failed"
    nodes = _by_node(done)
    boom = Job.objects.get(id=nodes["boom"]["job_id"])
    assert boom.state == "dead" and boom.attempts == 4  # first run + three re-runs
    assert (
        Event.objects.filter(subject_id=str(boom.id), type="job.retried").count() == 3
    )
    after = Job.objects.get(id=nodes["after"]["job_id"])
    assert after.state == "failed" and after.error["code"] == "DEPENDENCY_FAILED"
    assert after.attempts == 0
