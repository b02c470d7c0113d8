"""Acting on one job through API v2: cancel, retry, resume (PostgreSQL)."""

import pytest
from django.utils import timezone

from conductor.engine.complete import complete_batch
from conductor.engine.judge import judge_batch
from conductor.engine.supervise import run_batch
from conductor.models import Job, RetryAttempt
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import api_job
from tests.observe import codes, fields, job_events, later
from tests.worker import claim, run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"
WORKER = "test-worker"


# --- cancel ---------------------------------------------------------------------------


def test_cancel_a_pending_job_records_reason_actor_and_event(api):
    job_id = api_job(api, type="test.echo")
    response = api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "not needed now"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "cancelled"
    assert data["cancel_reason"] == "not needed now"
    assert data["cancelled_by"] == "api-key:test-key"
    job = Job.objects.get(id=job_id)
    assert job.state == "cancelled" and job.finished_at is not None
    assert job.cancel_mode == "graceful"
    [event] = job_events(job_id, "job.cancelled")
    assert event.actor == "api-key:test-key"
    assert event.data["reason"] == "not needed now"
    assert run_due_jobs() == 0  # a cancelled job never runs
    assert Job.objects.get(id=job_id).attempts == 0


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_cancel_without_a_reason_is_refused_naming_it(api, body):
    job_id = api_job(api, type="test.echo")
    response = api.post_json(f"{JOBS}/{job_id}/cancel", body)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert "reason" in fields(response)
    assert Job.objects.get(id=job_id).state == "pending"
    assert not job_events(job_id, "job.cancelled")


def test_cancel_with_an_unknown_mode_is_refused(api):
    job_id = api_job(api, type="test.echo")
    response = api.post_json(
        f"{JOBS}/{job_id}/cancel", {"reason": "stop", "mode": "brutal"}
    )
    assert response.status_code == 400
    assert fields(response) == ["mode"]
    assert Job.objects.get(id=job_id).state == "pending"


def test_cancel_a_finished_job_conflicts(api):
    job_id = api_job(api, type="test.echo")
    run_due_jobs()
    response = api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "too late"})
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    job = Job.objects.get(id=job_id)
    assert job.state == "succeeded" and job.cancel_reason == ""


def test_cancel_an_unknown_job_is_404(api):
    response = api.post_json(
        f"{JOBS}/00000000-0000-0000-0000-000000000000/cancel", {"reason": "x"}
    )
    assert response.status_code == 404


def test_graceful_cancel_of_a_running_job_asks_the_handler_to_stop(api):
    job_id = api_job(api, type="test.until_cancelled")
    [claimed] = claim()
    assert claimed.id == job_id
    response = api.post_json(
        f"{JOBS}/{job_id}/cancel", {"reason": "operator stop", "mode": "graceful"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["state"] == "running"  # still running: asked only
    job = Job.objects.get(id=job_id)
    assert job.state == "running" and job.cancel_requested_at is not None
    assert job.cancel_reason == "operator stop"
    [event] = job_events(job_id, "job.cancel_requested")
    assert event.data["mode"] == "graceful" and event.actor == "api-key:test-key"
    explained = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert codes(explained) == ["RUNNING", "CANCEL_REQUESTED"]


@pytest.mark.django_db(transaction=True)  # the worker's heartbeat commits on its own
def test_a_graceful_cancel_reaches_a_cooperative_handler(api, settings):
    settings.CONDUCTOR_ENGINE_LEASE_S = (
        1  # the worker reads cancel requests every 1/3 s
    )
    job_id = api_job(api, type="test.until_cancelled")
    batch = claim()
    api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "enough"})
    finished = judge_batch(run_batch(batch, worker=WORKER))
    assert complete_batch(finished=finished, worker=WORKER, now=timezone.now()) == 1
    job = Job.objects.get(id=job_id)
    assert job.state == "cancelled" and job.result is None
    assert job.error["code"] == "CANCELLED"


def test_forced_cancel_of_a_running_job_ends_it_and_its_attempt(api):
    job_id = api_job(api, type="test.echo", payload={"value": 1})
    batch = claim()
    response = api.post_json(
        f"{JOBS}/{job_id}/cancel", {"reason": "runaway", "mode": "forced"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["state"] == "cancelled"
    job = Job.objects.get(id=job_id)
    assert job.state == "cancelled" and job.locked_by == ""
    assert job.lease_expires_at is None and job.finished_at is not None
    attempt = RetryAttempt.objects.get(job_id=job_id, attempt_number=1)
    assert attempt.status == "failed" and attempt.error_code == "CANCELLED"
    assert attempt.finished_at is not None
    assert "runaway" in attempt.error_message
    assert job_events(job_id, "job.cancelled")
    # The worker that held it finishes late: its outcome is not written.
    finished = judge_batch(run_batch(batch, worker=WORKER))
    assert complete_batch(finished=finished, worker=WORKER, now=timezone.now()) == 0
    assert Job.objects.get(id=job_id).state == "cancelled"
    assert Job.objects.get(id=job_id).result is None


def test_cancel_with_propagate_cancels_waiting_dependents(api):
    first = api_job(api, type="test.echo", run_at=later(hours=1))
    second = api_job(api, type="test.echo", depends_on=[first])
    third = api_job(api, type="test.echo", depends_on=[second])
    response = api.post_json(
        f"{JOBS}/{first}/cancel", {"reason": "batch withdrawn", "propagate": True}
    )
    assert response.status_code == 200
    for dependent in (second, third):
        job = Job.objects.get(id=dependent)
        assert job.state == "cancelled", (job.state, job.error)
        assert "batch withdrawn" in job.cancel_reason
        assert job_events(dependent, "job.cancelled")


def test_cancel_without_propagate_leaves_dependents_to_their_failure_rule(api):
    first = api_job(api, type="test.echo", run_at=later(hours=1))
    aborting = api_job(api, type="test.echo", depends_on=[first])
    continuing = api_job(
        api,
        type="test.echo",
        depends_on={"jobs": [first], "on_failure": "continue"},
    )
    api.post_json(f"{JOBS}/{first}/cancel", {"reason": "withdrawn"})
    job = Job.objects.get(id=aborting)
    assert job.state == "failed" and job.error["code"] == "DEPENDENCY_FAILED"
    assert Job.objects.get(id=continuing).state == "pending"


# --- retry and resume -----------------------------------------------------------------


def test_retry_a_failed_job_gives_it_one_more_attempt(api):
    job_id = api_job(api, type="test.fail_first", max_retries=0)
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "dead" and job.attempts == 1
    response = api.post_json(f"{JOBS}/{job_id}/retry", {"reason": "fixed upstream"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "pending" and data["max_retries"] >= 1
    [event] = job_events(job_id, "job.retried")
    assert event.actor == "api-key:test-key"
    assert event.data["reason"] == "fixed upstream"
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "succeeded" and job.attempts == 2
    assert job.result == {"attempt": 2} and job.finished_at is not None


def test_a_retried_job_that_fails_again_gets_exactly_one_more_attempt(api):
    job_id = api_job(api, type="test.fail", payload={"retryable": True}, max_retries=0)
    run_due_jobs()
    api.post_json(f"{JOBS}/{job_id}/retry", {})
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "dead" and job.attempts == 2
    assert run_due_jobs() == 0  # no third attempt scheduled


def test_retry_a_succeeded_job_conflicts(api):
    job_id = api_job(api, type="test.echo")
    run_due_jobs()
    response = api.post_json(f"{JOBS}/{job_id}/retry", {})
    assert response.status_code == 409
    assert Job.objects.get(id=job_id).state == "succeeded"
    assert not job_events(job_id, "job.retried")


def test_retry_refuses_unknownfields(api):
    job_id = api_job(api, type="test.fail")
    run_due_jobs()
    response = api.post_json(f"{JOBS}/{job_id}/retry", {"reasn": "typo"})
    assert response.status_code == 400 and fields(response) == ["reasn"]
    assert Job.objects.get(id=job_id).state == "dead"


def test_resume_a_cancelled_job_requeues_it(api):
    job_id = api_job(api, type="test.echo", payload={"n": 7})
    api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "hold on"})
    response = api.post_json(f"{JOBS}/{job_id}/resume", {})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "pending" and data["cancel_reason"] == ""
    [event] = job_events(job_id, "job.resumed")
    assert event.actor == "api-key:test-key"
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "succeeded" and job.result == {"n": 7}


def test_resume_a_job_that_is_not_cancelled_conflicts(api):
    job_id = api_job(api, type="test.echo")
    response = api.post_json(f"{JOBS}/{job_id}/resume", {})
    assert response.status_code == 409
    assert Job.objects.get(id=job_id).state == "pending"
    assert not job_events(job_id, "job.resumed")


def test_resume_a_job_cancelled_while_waiting_puts_it_back_to_wait(api):
    dependency = api_job(api, type="test.echo", run_at=later(hours=1))
    job_id = api_job(api, type="test.echo", payload={"k": 1}, depends_on=[dependency])
    api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "hold"})
    response = api.post_json(f"{JOBS}/{job_id}/resume", {})
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["state"] == "waiting"
    assert job_events(job_id, "job.resumed")
    Job.objects.filter(id=dependency).update(run_at=timezone.now())
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "succeeded" and job.result == {"k": 1}


def test_retry_a_job_whose_dependency_failed_never_answers_500(api):
    dependency = api_job(api, type="test.fail")
    job_id = api_job(api, type="test.echo", depends_on=[dependency])
    run_due_jobs()
    assert Job.objects.get(id=job_id).error["code"] == "DEPENDENCY_FAILED"
    response = api.post_json(f"{JOBS}/{job_id}/retry", {})
    assert response.status_code in (200, 409), response.status_code
    if response.status_code == 200:  # back to wait for its (failed) dependency
        assert response.json()["data"]["state"] == "waiting"
    else:
        assert Job.objects.get(id=job_id).state == "failed"
