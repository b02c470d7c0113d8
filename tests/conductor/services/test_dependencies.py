"""Jobs that depend on other jobs, end to end through API v2 and the engine
(PostgreSQL): waiting, release, modes, failure rules, parent priority."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor.models import Event, Job, JobType
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import api_job
from tests.observe import later
from tests.worker import one_batch, run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"


def _make_due(job_id):
    Job.objects.filter(id=job_id).update(run_at=timezone.now())


def _state(job_id):
    return Job.objects.get(id=job_id).state


def _event_types(job_id):
    events = Event.objects.filter(subject_type="job", subject_id=str(job_id))
    return list(events.order_by("id").values_list("type", flat=True))


@pytest.mark.parametrize(
    "depends_on",
    [lambda dep: [dep], lambda dep: {"jobs": [dep]}],
    ids=["list", "object"],
)
def test_a_dependent_waits_until_its_dependency_succeeds(api, depends_on):
    dependency = api_job(api, type="test.echo", run_at=later(hours=1))
    response = api.post_json(
        JOBS,
        {
            "type": "test.echo",
            "payload": {"x": 1},
            "depends_on": depends_on(dependency),
        },
    )
    assert response.status_code == 201
    dependent = response.json()["data"]["id"]
    assert response.json()["data"]["state"] == "waiting"
    assert run_due_jobs() == 0  # the dependency is not due; the dependent may not run
    assert _state(dependent) == "waiting"
    _make_due(dependency)
    assert run_due_jobs() == 2
    assert _state(dependency) == "succeeded"
    dependent_job = Job.objects.get(id=dependent)
    assert dependent_job.state == "succeeded" and dependent_job.result == {"x": 1}
    assert _event_types(dependent) == [
        "job.submitted",
        "job.ready",
        "job.started",
        "job.succeeded",
    ]


def test_a_released_dependent_is_pending_until_a_worker_takes_it(api):
    dependency = api_job(api, type="test.echo")
    dependent = api_job(api, type="demo.noop", depends_on=[dependency])
    JobType.objects.filter(name="demo.noop").update(paused=True)  # no worker takes it
    run_due_jobs()
    assert _state(dependency) == "succeeded"
    assert _state(dependent) == "pending"
    ready = Event.objects.get(subject_id=dependent, type="job.ready")
    assert ready.data["state"] == "pending"
    JobType.objects.filter(name="demo.noop").update(paused=False)
    run_due_jobs()
    assert _state(dependent) == "succeeded"


def test_a_released_dependent_still_waits_for_its_own_run_at(api):
    dependency = api_job(api, type="test.echo")
    dependent = api_job(
        api, type="test.echo", depends_on=[dependency], run_at=later(hours=1)
    )
    run_due_jobs()
    assert _state(dependency) == "succeeded"
    assert _state(dependent) == "pending"
    assert Job.objects.get(id=dependent).run_at > timezone.now() + timedelta(minutes=50)


def test_all_mode_waits_for_every_dependency(api):
    now_ = api_job(api, type="test.echo")
    future = api_job(api, type="test.echo", run_at=later(hours=1))
    dependent = api_job(api, type="test.echo", depends_on=[now_, future])
    run_due_jobs()
    assert _state(now_) == "succeeded"
    assert _state(dependent) == "waiting"
    _make_due(future)
    run_due_jobs()
    assert _state(dependent) == "succeeded"


@pytest.mark.parametrize("style", ["object", "field"])
def test_any_mode_goes_as_soon_as_one_dependency_succeeds(api, style):
    quick = api_job(api, type="test.echo")
    slow = api_job(api, type="test.echo", run_at=later(hours=1))
    if style == "object":
        body = {"depends_on": {"jobs": [slow, quick], "mode": "any"}}
    else:
        body = {"depends_on": [slow, quick], "dependency_mode": "any"}
    dependent = api_job(api, type="test.echo", **body)
    assert Job.objects.get(id=dependent).dependency_mode == "any"
    run_due_jobs()
    assert _state(dependent) == "succeeded"
    assert _state(slow) == "pending"  # never waited for


def test_any_mode_aborts_when_every_dependency_failed(api):
    first = api_job(api, type="test.fail")
    second = api_job(api, type="test.fail")
    dependent = api_job(
        api, type="test.echo", depends_on={"jobs": [first, second], "mode": "any"}
    )
    run_due_jobs()
    job = Job.objects.get(id=dependent)
    assert job.state == "failed" and job.error["code"] == "DEPENDENCY_FAILED"


def test_abort_fails_the_dependent_with_dependency_failed(api):
    dependency = api_job(api, type="test.fail", payload={"code": "UPSTREAM_DOWN"})
    dependent = api_job(api, type="test.echo", depends_on=[dependency])
    grandchild = api_job(api, type="test.echo", depends_on=[dependent])
    run_due_jobs()
    job = Job.objects.get(id=dependent)
    assert job.state == "failed" and job.attempts == 0  # never ran
    assert job.error["code"] == "DEPENDENCY_FAILED"
    assert dependency in job.error["message"]
    assert job.finished_at is not None
    # The cascade goes on: its own dependent fails too.
    assert Job.objects.get(id=grandchild).error["code"] == "DEPENDENCY_FAILED"
    detail = api.get(f"{JOBS}/{dependent}").json()["data"]
    assert detail["state"] == "failed"
    assert detail["error"]["code"] == "DEPENDENCY_FAILED"


def test_submitting_on_a_dependency_that_already_failed_fails_at_once(api):
    dependency = api_job(api, type="test.fail")
    run_due_jobs()
    response = api.post_json(JOBS, {"type": "test.echo", "depends_on": [dependency]})
    assert response.status_code == 201
    assert response.json()["data"]["state"] == "failed"
    assert response.json()["data"]["error"]["code"] == "DEPENDENCY_FAILED"


def test_submitting_on_a_dependency_that_already_succeeded_is_pending_at_once(api):
    dependency = api_job(api, type="test.echo")
    run_due_jobs()
    response = api.post_json(
        JOBS, {"type": "test.echo", "payload": {"v": 2}, "depends_on": [dependency]}
    )
    assert response.json()["data"]["state"] == "pending"
    run_due_jobs()
    assert Job.objects.get(id=response.json()["data"]["id"]).result == {"v": 2}


@pytest.mark.parametrize("style", ["object", "field"])
def test_continue_runs_the_dependent_anyway(api, style):
    failing = api_job(api, type="test.fail")
    fine = api_job(api, type="test.echo")
    if style == "object":
        body = {"depends_on": {"jobs": [failing, fine], "on_failure": "continue"}}
    else:
        body = {"depends_on": [failing, fine], "on_dependency_failure": "continue"}
    dependent = api_job(api, type="test.echo", payload={"ran": True}, **body)
    run_due_jobs()
    assert _state(failing) == "dead"
    job = Job.objects.get(id=dependent)
    assert job.state == "succeeded" and job.result == {"ran": True}


def test_continue_still_waits_for_the_unfinished_dependencies(api):
    failing = api_job(api, type="test.fail")
    future = api_job(api, type="test.echo", run_at=later(hours=1))
    dependent = api_job(
        api,
        type="test.echo",
        depends_on={"jobs": [failing, future], "on_failure": "continue"},
    )
    run_due_jobs()
    assert _state(failing) == "dead"
    assert _state(dependent) == "waiting"


def test_retry_requeues_the_failed_dependency_and_the_dependent_keeps_waiting(api):
    dependency = api_job(api, type="test.fail_first", max_retries=0)
    dependent = api_job(
        api,
        type="test.echo",
        payload={"after": "retry"},
        depends_on={"jobs": [dependency], "on_failure": "retry"},
    )
    assert run_due_jobs() == 3  # the dependency twice, then the dependent
    dep = Job.objects.get(id=dependency)
    # Re-queued by the dependent's rule (its first attempt failed for good) ...
    assert "job.retried" in _event_types(dependency)
    retried = Event.objects.get(subject_id=dependency, type="job.retried")
    assert dependent in retried.data["reason"]
    # ... and, as the same drain goes on, run again with success.
    assert dep.state == "succeeded" and dep.attempts == 2
    job = Job.objects.get(id=dependent)
    assert job.state == "succeeded" and job.result == {"after": "retry"}
    assert job.dependency_retries == 1


def test_retry_rule_keeps_the_dependent_waiting_while_the_dependency_reruns(api):
    dependency = api_job(api, type="test.fail", max_retries=0)
    dependent = api_job(
        api, type="test.echo", depends_on={"jobs": [dependency], "on_failure": "retry"}
    )
    assert one_batch() == 1  # the dependency fails for good ...
    assert _state(dependency) == "pending"  # ... and is put back in the queue
    assert _event_types(dependency).count("job.retried") == 1
    assert _state(dependent) == "waiting"
    assert Job.objects.get(id=dependent).dependency_retries == 1
    for _ in range(3):  # it keeps failing: three re-runs, then the dependent gives up
        assert one_batch() == 1
    job = Job.objects.get(id=dependent)
    assert job.state == "failed" and job.error["code"] == "DEPENDENCY_FAILED"
    assert job.dependency_retries == 3
    assert _event_types(dependency).count("job.retried") == 3
    assert Job.objects.get(id=dependency).attempts == 4
    assert one_batch() == 0


def test_unknown_dependency_is_refused_naming_it(api):
    known = api_job(api, type="test.echo")
    for body in (
        {"depends_on": ["00000000-0000-0000-0000-000000000009"]},
        {"depends_on": {"jobs": ["00000000-0000-0000-0000-000000000009"]}},
        {"depends_on": ["not-a-uuid"]},
    ):
        response = api.post_json(JOBS, {"type": "test.echo", **body})
        assert response.status_code == 400, body
        assert [e["field"] for e in response.json()["errors"]] == ["depends_on[0]"]
    response = api.post_json(
        JOBS,
        {
            "type": "test.echo",
            "depends_on": [known, "00000000-0000-0000-0000-00000000000a"],
        },
    )
    assert [e["field"] for e in response.json()["errors"]] == ["depends_on[1]"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"depends_on": "abc"}, "depends_on"),
        ({"depends_on": {"jobs": ["x"], "mode": "most"}}, "depends_on.mode"),
        ({"depends_on": {"jobs": [], "on_failure": "shrug"}}, "depends_on.on_failure"),
        ({"depends_on": {"job": []}}, "depends_on.job"),
        ({"dependency_mode": "some"}, "dependency_mode"),
    ],
)
def test_malformed_dependencies_are_named(api, body, field):
    response = api.post_json(JOBS, {"type": "test.echo", **body})
    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert Job.objects.count() == 0


def test_a_child_inherits_its_parents_priority(api):
    parent = api_job(api, type="test.echo", priority="critical")
    child = api.post_json(JOBS, {"type": "demo.noop", "parent": parent}).json()["data"]
    assert child["priority"] == "critical"
    assert child["parent"] == parent
    chosen = api.post_json(
        JOBS, {"type": "demo.noop", "parent": parent, "priority": "low"}
    ).json()["data"]
    assert chosen["priority"] == "low"
    orphan = api.post_json(JOBS, {"type": "demo.noop"}).json()["data"]
    assert orphan["priority"] == "normal"
    listed = api.get(JOBS, {"parent": parent}).json()["data"]
    assert {j["id"] for j in listed} == {child["id"], chosen["id"]}


def test_an_unknown_parent_is_refused(api):
    response = api.post_json(
        JOBS, {"type": "test.echo", "parent": "00000000-0000-0000-0000-000000000001"}
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["parent"]


def test_cancelling_a_dependency_of_a_retry_dependent_still_cancels(api):
    dependency = api_job(api, type="test.echo", run_at=later(hours=1))
    dependent = api_job(
        api, type="test.echo", depends_on={"jobs": [dependency], "on_failure": "retry"}
    )
    response = api.post_json(f"{JOBS}/{dependency}/cancel", {"reason": "withdrawn"})
    assert response.status_code == 200
    assert _state(dependency) == "cancelled"
    assert _state(dependent) in ("waiting", "failed", "cancelled")
