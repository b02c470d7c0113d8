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
