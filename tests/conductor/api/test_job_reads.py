"""Reading one job through API v2: explain, progress, result and its file, dependencies;
checkpoints across a retry (PostgreSQL)."""

import pytest
from django.utils import timezone

from conductor.models import Job, JobType
from conductor.services import job_progress_record
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import api_job
from tests.observe import codes, job_events, later
from tests.worker import claim, run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"
WORKER = "test-worker"


# --- explain --------------------------------------------------------------------------


def test_explain_a_due_job_counts_the_jobs_ahead_of_it(api):
    api_job(api, type="test.echo", priority="normal")  # older, same priority: ahead
    api_job(api, type="test.echo", priority="high")  # due, better: ahead
    api_job(api, type="test.echo", priority="critical")  # due, better: ahead
    api_job(
        api, type="test.echo", priority="critical", run_at=later(hours=1)
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
    run_at = later(hours=2)
    job_id = api_job(api, type="test.echo", run_at=run_at)
    reasons = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert codes(reasons) == ["SCHEDULED"]
    assert reasons[0]["data"]["run_at"][:16] == run_at[:16]


def test_explain_after_a_failed_attempt_says_retry_scheduled(api):
    job_id = api_job(api, type="test.fail", payload={"retryable": True}, max_retries=3)
    run_due_jobs()
    reasons = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert codes(reasons) == ["RETRY_SCHEDULED"]
    assert reasons[0]["data"]["attempts"] == 1


def test_explain_a_waiting_job_names_its_dependency_and_state(api):
    dependency = api_job(api, type="test.echo", run_at=later(hours=1))
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
    assert "TYPE_PAUSED" in codes(reasons)
    assert run_due_jobs() == 0  # and indeed it is not claimed
    JobType.objects.filter(name="test.echo").update(paused=False)
    reasons = api.get(f"{JOBS}/{job_id}/explain").json()["data"]["reasons"]
    assert "TYPE_PAUSED" not in codes(reasons)


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
    events = job_events(job_id, "job.progress")
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
    [event] = job_events(job_id, "job.progress")
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
    a = api_job(api, type="test.echo", run_at=later(hours=1))
    b = api_job(api, type="test.echo", run_at=later(hours=1))
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


def test_progress_of_a_running_job_shows_an_eta(api):
    job_id = api_job(api, type="test.echo")
    claim()
    assert job_progress_record(
        job_id=job_id,
        worker=WORKER,
        attempt=1,
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
        attempt=1,
        pct=90,
        stage="late",
        message="",
        eta_s=None,
    )
    # Nor one from an earlier attempt of the same worker (an abandoned runner).
    assert not job_progress_record(
        job_id=job_id,
        worker=WORKER,
        attempt=0,
        pct=95,
        stage="stale",
        message="",
        eta_s=None,
    )
    assert api.get(f"{JOBS}/{job_id}/progress").json()["data"]["pct"] == 25
