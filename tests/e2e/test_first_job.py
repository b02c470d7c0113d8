"""End to end: a real Celery worker (Redis broker, PostgreSQL) runs jobs from the API."""

import pytest

from conductor.models import Event, RetryAttempt
from tests.e2e.conftest import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_noop_runs_through_the_api_on_a_real_worker(start_worker, api):
    worker = start_worker()
    response = api.post_json("/api/v2/jobs", {"type": "demo.noop", "payload": {}})
    assert response.status_code == 201
    job_id = response.json()["data"]["id"]

    def finished():
        data = api.get(f"/api/v2/jobs/{job_id}").json()["data"]
        return data if data["state"] == "succeeded" else None

    data = wait_until(finished, timeout=30)
    assert data["result"] == {"ok": True} and data["attempts"] == 1
    attempt = RetryAttempt.objects.get(job_id=job_id)
    assert attempt.status == "success" and attempt.worker
    assert list(
        Event.objects.filter(subject_id=job_id).values_list("type", flat=True)
    ) == ["job.submitted", "job.started", "job.succeeded"]
    assert "conductor.jobs_wake" in worker.output()


def test_a_burst_of_submits_each_runs_exactly_once(start_worker, api):
    start_worker(concurrency=2)
    ids = [
        api.post_json("/api/v2/jobs", {"type": "demo.noop"}).json()["data"]["id"]
        for _ in range(30)
    ]
    wait_until(
        lambda: (
            RetryAttempt.objects.filter(job_id__in=ids, status="success").count() == 30
        ),
        timeout=30,
    )
    assert RetryAttempt.objects.filter(job_id__in=ids).count() == 30


def test_beat_sweeper_runs_a_scheduled_job_with_no_other_message(
    start_worker, start_beat, api
):
    fast = {"CONDUCTOR_ENGINE_SWEEP_INTERVAL_S": 1}
    start_worker(**fast)
    start_beat(**fast)
    from datetime import timedelta

    from django.utils import timezone

    run_at = timezone.now() + timedelta(seconds=2)
    job_id = api.post_json(
        "/api/v2/jobs", {"type": "demo.noop", "run_at": run_at.isoformat()}
    ).json()["data"]["id"]
    # The submit's own doorbell finds nothing due; only the sweeper can start it.
    data = wait_until(
        lambda: (
            (d := api.get(f"/api/v2/jobs/{job_id}").json()["data"])["state"]
            == "succeeded"
            and d
        ),
        timeout=30,
    )
    assert data["started_at"] >= run_at.isoformat().replace("+00:00", "Z")[:19]


def test_a_failing_job_is_retried_on_schedule_by_the_real_worker(
    start_worker, start_beat, api
):
    fast = {"CONDUCTOR_ENGINE_SWEEP_INTERVAL_S": 1}
    start_worker(**fast)
    start_beat(**fast)
    job_id = api.post_json(
        "/api/v2/jobs",
        {"type": "demo.flaky", "max_retries": 2, "payload": {"fail_rate": 1}},
    ).json()["data"]["id"]
    wait_until(
        lambda: api.get(f"/api/v2/jobs/{job_id}").json()["data"]["state"] == "dead",
        timeout=30,
    )
    attempts = api.get(f"/api/v2/jobs/{job_id}/attempts").json()["data"]
    assert [a["attempt_number"] for a in attempts] == [1, 2, 3]
    assert all(a["status"] == "failed" for a in attempts)
    assert attempts[0]["retry_at"] and attempts[1]["retry_at"]
