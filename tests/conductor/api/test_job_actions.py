"""Acting on one job through API v2: cancel, retry, resume, explain, progress, result,
dependencies, checkpoints (PostgreSQL)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor.engine.claim import claim_batch
from conductor.engine.complete import complete_batch
from conductor.engine.judge import judge_batch
from conductor.engine.supervise import run_batch
from conductor.models import Event, Job, JobType, RetryAttempt
from conductor.services import job_progress_record
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import api_job
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"
WORKER = "test-worker"


def _claim():
    return claim_batch(
        queue="default", worker=WORKER, limit=100, now=timezone.now(), lease_s=30
    )


def _later(**delta):
    return (timezone.now() + timedelta(**delta)).isoformat()


def _events(job_id, type_=None):
    events = Event.objects.filter(subject_type="job", subject_id=str(job_id))
    if type_:
        events = events.filter(type=type_)
    return list(events.order_by("id"))


def _fields(response):
    return [e["field"] for e in response.json()["errors"]]


def _codes(reasons):
    return [r["code"] for r in reasons]


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
    [event] = _events(job_id, "job.cancelled")
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
    assert "reason" in _fields(response)
    assert Job.objects.get(id=job_id).state == "pending"
    assert not _events(job_id, "job.cancelled")


def test_cancel_with_an_unknown_mode_is_refused(api):
    job_id = api_job(api, type="test.echo")
    response = api.post_json(
        f"{JOBS}/{job_id}/cancel", {"reason": "stop", "mode": "brutal"}
    )
    assert response.status_code == 400
    assert _fields(response) == ["mode"]
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
    [claimed] = _claim()
    assert claimed.id == job_id
    response = api.post_json(
        f"{JOBS}/{job_id}/cancel", {"reason": "operator stop", "mode": "graceful"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["state"] == "running"  # still running: asked only
    job = Job.objects.get(id=job_id)
    assert job.state == "running" and job.cancel_requested_at is not None
    assert job.cancel_reason == "operator stop"
    [event] = _events(job_id, "job.cancel_requested")
    assert event.data["mode"] == "graceful" and event.actor == "api-key:test-key"
    explained = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert _codes(explained) == ["RUNNING", "CANCEL_REQUESTED"]


@pytest.mark.django_db(transaction=True)  # the worker's heartbeat commits on its own
def test_a_graceful_cancel_reaches_a_cooperative_handler(api, settings):
    settings.CONDUCTOR_ENGINE_LEASE_S = (
        1  # the worker reads cancel requests every 1/3 s
    )
    job_id = api_job(api, type="test.until_cancelled")
    batch = _claim()
    api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "enough"})
    finished = judge_batch(run_batch(batch, worker=WORKER))
    assert complete_batch(finished=finished, worker=WORKER, now=timezone.now()) == 1
    job = Job.objects.get(id=job_id)
    assert job.state == "cancelled" and job.result is None
    assert job.error["code"] == "CANCELLED"


def test_forced_cancel_of_a_running_job_ends_it_and_its_attempt(api):
    job_id = api_job(api, type="test.echo", payload={"value": 1})
    batch = _claim()
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
    assert _events(job_id, "job.cancelled")
    # The worker that held it finishes late: its outcome is not written.
    finished = judge_batch(run_batch(batch, worker=WORKER))
    assert complete_batch(finished=finished, worker=WORKER, now=timezone.now()) == 0
    assert Job.objects.get(id=job_id).state == "cancelled"
    assert Job.objects.get(id=job_id).result is None


def test_cancel_with_propagate_cancels_waiting_dependents(api):
    first = api_job(api, type="test.echo", run_at=_later(hours=1))
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
        assert _events(dependent, "job.cancelled")


def test_cancel_without_propagate_leaves_dependents_to_their_failure_rule(api):
    first = api_job(api, type="test.echo", run_at=_later(hours=1))
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
    [event] = _events(job_id, "job.retried")
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
    assert not _events(job_id, "job.retried")


def test_retry_refuses_unknown_fields(api):
    job_id = api_job(api, type="test.fail")
    run_due_jobs()
    response = api.post_json(f"{JOBS}/{job_id}/retry", {"reasn": "typo"})
    assert response.status_code == 400 and _fields(response) == ["reasn"]
    assert Job.objects.get(id=job_id).state == "dead"


def test_resume_a_cancelled_job_requeues_it(api):
    job_id = api_job(api, type="test.echo", payload={"n": 7})
    api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "hold on"})
    response = api.post_json(f"{JOBS}/{job_id}/resume", {})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "pending" and data["cancel_reason"] == ""
    [event] = _events(job_id, "job.resumed")
    assert event.actor == "api-key:test-key"
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "succeeded" and job.result == {"n": 7}


def test_resume_a_job_that_is_not_cancelled_conflicts(api):
    job_id = api_job(api, type="test.echo")
    response = api.post_json(f"{JOBS}/{job_id}/resume", {})
    assert response.status_code == 409
    assert Job.objects.get(id=job_id).state == "pending"
    assert not _events(job_id, "job.resumed")


# --- explain --------------------------------------------------------------------------


def test_explain_a_due_job_counts_the_jobs_ahead_of_it(api):
    api_job(api, type="test.echo", priority="normal")  # older, same priority: ahead
    api_job(api, type="test.echo", priority="high")  # due, better: ahead
    api_job(api, type="test.echo", priority="critical")  # due, better: ahead
    api_job(
        api, type="test.echo", priority="critical", run_at=_later(hours=1)
    )  # not due
    mine = api_job(api, type="test.echo", priority="normal")
    api_job(api, type="test.echo", priority="low")  # worse: behind
    api_job(api, type="test.echo", priority="normal")  # newer, same priority: behind
    response = api.get(f"{JOBS}/{mine}/explain")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "pending" and data["id"] == mine
    [queued] = [r for r in data["reasons"] if r["code"] == "QUEUED"]
    assert queued["data"]["ahead"] == 3
    assert "3 job(s) are ahead" in queued["message"]


def test_explain_a_future_job_says_scheduled(api):
    run_at = _later(hours=2)
    job_id = api_job(api, type="test.echo", run_at=run_at)
    reasons = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert _codes(reasons) == ["SCHEDULED"]
    assert reasons[0]["data"]["run_at"][:16] == run_at[:16]


def test_explain_after_a_failed_attempt_says_retry_scheduled(api):
    job_id = api_job(api, type="test.fail", payload={"retryable": True}, max_retries=3)
    run_due_jobs()
    reasons = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert _codes(reasons) == ["RETRY_SCHEDULED"]
    assert reasons[0]["data"]["attempts"] == 1


def test_explain_a_waiting_job_names_its_dependency_and_state(api):
    dependency = api_job(api, type="test.echo", run_at=_later(hours=1))
    job_id = api_job(api, type="test.echo", depends_on=[dependency])
    data = api.get(f"{JOBS}/{job_id}/explain").json()["data"]
    assert data["state"] == "waiting"
    [reason] = data["reasons"]
    assert reason["code"] == "WAITING_ON"
    assert reason["data"]["dependencies"] == {dependency: "pending"}
    assert dependency in reason["message"] and "pending" in reason["message"]


def test_explain_a_job_of_a_paused_type(api):
    job_id = api_job(api, type="test.echo")
    JobType.objects.filter(name="test.echo").update(paused=True)
    reasons = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert "TYPE_PAUSED" in _codes(reasons)
    assert run_due_jobs() == 0  # and indeed it is not claimed
    JobType.objects.filter(name="test.echo").update(paused=False)
    reasons = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert "TYPE_PAUSED" not in _codes(reasons)


def test_explain_a_finished_job(api):
    job_id = api_job(api, type="test.fail", payload={"code": "NOPE"})
    run_due_jobs()
    [reason] = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert reason["code"] == "FINISHED"
    assert reason["data"]["state"] == "dead"
    assert reason["data"]["error"]["code"] == "NOPE"


# --- progress -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_progress_is_throttled_and_the_final_report_is_kept(api):
    job_id = api_job(api, type="test.progress")
    run_due_jobs()
    response = api.get(f"{JOBS}/{job_id}/progress")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "succeeded"
    assert data["pct"] == 100
    assert data["stage"] == "counting" and data["message"] == "step 50 of 50"
    assert data["eta_s"] is None
    events = _events(job_id, "job.progress")
    assert 2 <= len(events) <= 5  # 50 quick reports: the first, the last, few between
    assert events[-1].data["pct"] == 100
    assert events[-1].data["message"] == "step 50 of 50"


@pytest.mark.django_db(transaction=True)
def test_progress_reported_before_a_failure_stays_visible(api):
    job_id = api_job(api, type="test.progress_stop")
    run_due_jobs()
    data = api.get(f"{JOBS}/{job_id}/progress").json()["data"]
    assert data["state"] == "dead"
    assert (data["pct"], data["stage"], data["message"]) == (
        40,
        "halfway",
        "forty percent",
    )
    detail = api.get(f"{JOBS}/{job_id}").json()["data"]
    assert detail["progress"]["pct"] == 40
    [event] = _events(job_id, "job.progress")
    assert event.data["stage"] == "halfway"


def test_progress_of_a_job_that_never_ran(api):
    job_id = api_job(api, type="test.echo")
    data = api.get(f"{JOBS}/{job_id}/progress").json()["data"]
    assert data["pct"] is None and data["state"] == "pending"


# --- results --------------------------------------------------------------------------


def test_result_file_is_listed_and_streamed_back(api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    content = "id,total\n1,9.50\n2,3.25\n"
    job_id = api_job(
        api, type="test.file", payload={"name": "report.csv", "content": content}
    )
    run_due_jobs()
    result = api.get(f"{JOBS}/{job_id}/result")
    assert result.status_code == 200
    data = result.json()["data"]
    assert data["state"] == "succeeded" and data["result"] == {"saved": True}
    assert data["file"]["name"] == "report.csv"
    assert data["file"]["size"] == len(content.encode())
    assert data["file"]["url"] == f"{JOBS}/{job_id}/result/download"
    download = api.get(data["file"]["url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert 'filename="report.csv"' in download["Content-Disposition"]
    assert b"".join(download.streaming_content).decode() == content


def test_result_without_a_file(api):
    job_id = api_job(api, type="test.echo", payload={"answer": 42})
    run_due_jobs()
    data = api.get(f"{JOBS}/{job_id}/result").json()["data"]
    assert data["result"] == {"answer": 42} and data["file"] is None
    download = api.get(f"{JOBS}/{job_id}/result/download")
    assert download.status_code == 404
    assert download["Content-Type"].startswith("application/problem+json")
    assert download.json()["code"] == "NOT_FOUND"


def test_download_when_the_file_is_gone_from_storage(api, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    job_id = api_job(api, type="test.file", payload={"name": "a.txt", "content": "x"})
    run_due_jobs()
    (tmp_path / Job.objects.get(id=job_id).result_file.name).unlink()
    response = api.get(f"{JOBS}/{job_id}/result/download")
    assert response.status_code == 404
    assert api.get(f"{JOBS}/{job_id}/result").json()["data"]["file"]["size"] is None


# --- dependencies ---------------------------------------------------------------------


def test_dependencies_and_dependents_endpoints(api):
    a = api_job(api, type="test.echo", run_at=_later(hours=1))
    b = api_job(api, type="test.echo", run_at=_later(hours=1))
    child = api_job(api, type="test.echo", depends_on=[a, b])
    other = api_job(api, type="test.echo", depends_on=[a])
    deps = api.get(f"{JOBS}/{child}/dependencies")
    assert deps.status_code == 200
    assert [j["id"] for j in deps.json()["data"]] == [a, b]
    assert {j["state"] for j in deps.json()["data"]} == {"pending"}
    dependents = api.get(f"{JOBS}/{a}/dependents").json()["data"]
    assert [j["id"] for j in dependents] == [child, other]
    assert [j["state"] for j in dependents] == ["waiting", "waiting"]
    assert api.get(f"{JOBS}/{b}/dependents").json()["data"][0]["id"] == child
    assert api.get(f"{JOBS}/{child}/dependents").json()["data"] == []
    assert api.get(f"{JOBS}/{a}/dependencies").json()["data"] == []
    assert api.get(f"{JOBS}/not-a-uuid/dependencies").status_code == 404


# --- checkpoints ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_retry_resumes_from_the_last_checkpoint(api):
    job_id = api_job(api, type="test.checkpoint", max_retries=2)
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "pending" and job.attempts == 1
    assert job.checkpoint == {"cursor": 3, "seen": ["a", "b", "c"]}
    Job.objects.filter(id=job_id).update(run_at=timezone.now())  # the retry is due
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "succeeded" and job.attempts == 2
    assert job.result == {
        "attempt": 2,
        "resumed_from": {"cursor": 3, "seen": ["a", "b", "c"]},
    }


def test_resume_a_job_cancelled_while_waiting_puts_it_back_to_wait(api):
    dependency = api_job(api, type="test.echo", run_at=_later(hours=1))
    job_id = api_job(api, type="test.echo", payload={"k": 1}, depends_on=[dependency])
    api.post_json(f"{JOBS}/{job_id}/cancel", {"reason": "hold"})
    response = api.post_json(f"{JOBS}/{job_id}/resume", {})
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["state"] == "waiting"
    assert _events(job_id, "job.resumed")
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


def test_progress_of_a_running_job_shows_an_eta(api):
    job_id = api_job(api, type="test.echo")
    _claim()
    assert job_progress_record(
        job_id=job_id,
        worker=WORKER,
        pct=25,
        stage="download",
        message="1 of 4",
        eta_s=None,
    )
    data = api.get(f"{JOBS}/{job_id}/progress").json()["data"]
    assert data["state"] == "running"
    assert (data["pct"], data["stage"], data["message"]) == (25, "download", "1 of 4")
    assert data["eta_s"] is not None and data["eta_s"] >= 0
    # A report from a worker that no longer holds the job changes nothing.
    assert not job_progress_record(
        job_id=job_id,
        worker="someone-else",
        pct=90,
        stage="late",
        message="",
        eta_s=None,
    )
    assert api.get(f"{JOBS}/{job_id}/progress").json()["data"]["pct"] == 25
