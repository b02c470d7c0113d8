"""Submitting and reading jobs through API v2 (PostgreSQL)."""

import dataclasses
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conductor import services
from conductor.models import Event, Job, RetryAttempt
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"


def test_submit_creates_a_pending_job_with_its_event(api):
    response = api.post_json(
        JOBS,
        {"type": "demo.sleep", "payload": {"seconds": 1}, "priority": "high"},
        HTTP_X_TRACE_ID="trace-42",
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["state"] == "pending" and data["priority"] == "high"
    assert response["Location"] == f"/api/v2/jobs/{data['id']}"
    job = Job.objects.get(id=data["id"])
    assert job.payload == {"seconds": 1} and job.trace_id == "trace-42"
    event = Event.objects.get(subject_type="job", subject_id=data["id"])
    assert event.type == "job.submitted"
    assert event.actor == "api-key:test-key" and event.trace_id == "trace-42"


def test_schema_errors_name_each_path(api):
    response = api.post_json(
        JOBS, {"type": "demo.flaky", "payload": {"fail_rate": 2, "error_code": "lower"}}
    )
    assert response.status_code == 400
    fields = sorted(e["field"] for e in response.json()["errors"])
    assert fields == ["payload.error_code", "payload.fail_rate"]
    assert Job.objects.count() == 0


def test_missing_required_payload_field_is_named(api):
    response = api.post_json(JOBS, {"type": "demo.sleep", "payload": {}})
    assert [e["field"] for e in response.json()["errors"]] == ["payload.seconds"]


def test_unknown_type_is_rejected_listing_known_types(api):
    response = api.post_json(JOBS, {"type": "nope.nothing"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["field"] == "type" and "demo.noop" in error["message"]


def test_payload_size_limit(api, settings):
    settings.CONDUCTOR_JOBS_PAYLOAD_MAX_BYTES = 1000
    response = api.post_json(JOBS, {"type": "demo.noop", "payload": {"x": "y" * 2000}})
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "payload"


def test_unsupported_payload_version_is_named(api):
    response = api.post_json(JOBS, {"type": "demo.noop", "payload": {"version": 9}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "payload.version"


def test_idempotency_key_in_body_returns_the_first_job(api):
    body = {"type": "demo.noop", "idempotency_key": "order-1"}
    first = api.post_json(JOBS, body)
    second = api.post_json(JOBS, {**body, "payload": {"other": True}})
    assert first.status_code == second.status_code == 201
    assert second.json()["data"]["id"] == first.json()["data"]["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1
    assert Event.objects.filter(type="job.submitted").count() == 1


def test_idempotency_key_header(api):
    first = api.post_json(JOBS, {"type": "demo.noop"}, HTTP_IDEMPOTENCY_KEY="hdr-1")
    second = api.post_json(JOBS, {"type": "demo.noop"}, HTTP_IDEMPOTENCY_KEY="hdr-1")
    assert first.json()["data"]["id"] == second.json()["data"]["id"]
    assert first.json()["data"]["idempotency_key"] == "hdr-1"


def test_idempotency_header_and_body_must_agree(api):
    response = api.post_json(
        JOBS, {"type": "demo.noop", "idempotency_key": "a"}, HTTP_IDEMPOTENCY_KEY="b"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "idempotency_key"


def test_future_run_at_is_kept_and_not_run_early(api):
    later = timezone.now() + timedelta(hours=1)
    data = api.post_json(
        JOBS, {"type": "demo.noop", "run_at": later.isoformat()}
    ).json()
    assert data["data"]["run_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))
    assert run_due_jobs() == 0
    assert Job.objects.get().state == "pending"


def test_detail_shows_state_attempts_result_and_error(api):
    job_id = api.post_json(JOBS, {"type": "demo.noop"}).json()["data"]["id"]
    run_due_jobs()
    data = api.get(f"{JOBS}/{job_id}").json()["data"]
    assert data["state"] == "succeeded"
    assert data["attempts"] == 1
    assert data["result"] == {"ok": True}
    assert data["error"] is None
    assert data["finished_at"] is not None


def test_failure_records_error_and_schedules_a_retry(api):
    job_id = api.post_json(
        JOBS,
        {
            "type": "demo.flaky",
            "max_retries": 1,
            "payload": {"fail_rate": 1, "error_code": "HTTP_5XX"},
        },
    ).json()["data"]["id"]
    before = timezone.now()
    run_due_jobs()
    data = api.get(f"{JOBS}/{job_id}").json()["data"]
    assert data["state"] == "pending" and data["attempts"] == 1
    assert data["error"]["code"] == "HTTP_5XX"
    attempts = api.get(f"{JOBS}/{job_id}/attempts").json()["data"]
    assert [a["attempt_number"] for a in attempts] == [1]
    assert attempts[0]["status"] == "failed" and attempts[0]["error_code"] == "HTTP_5XX"
    retry_at = Job.objects.get(id=job_id).run_at
    assert retry_at >= before + timedelta(seconds=0.9)  # 1 s, jitter ±10 %


def test_last_failure_ends_dead_with_every_attempt_on_record(api):
    job_id = api.post_json(
        JOBS, {"type": "demo.flaky", "max_retries": 1, "payload": {"fail_rate": 1}}
    ).json()["data"]["id"]
    run_due_jobs()
    Job.objects.filter(id=job_id).update(run_at=timezone.now())  # the retry is due
    run_due_jobs()
    data = api.get(f"{JOBS}/{job_id}").json()["data"]
    assert data["state"] == "dead" and data["attempts"] == 2
    attempts = api.get(f"{JOBS}/{job_id}/attempts").json()["data"]
    assert [(a["attempt_number"], a["status"]) for a in attempts] == [
        (1, "failed"),
        (2, "failed"),
    ]
    assert attempts[0]["retry_at"] is not None and attempts[1]["retry_at"] is None
    types = [e["type"] for e in api.get(f"{JOBS}/{job_id}/events").json()["data"]]
    assert types == [
        "job.submitted",
        "job.started",
        "job.failed",
        "job.retry_scheduled",
        "job.started",
        "job.failed",
        "job.dead_lettered",  # the journal of the job itself: its DLQ entry is
    ]  # journalled under the dead letter (dlq.entry_added)


def test_events_are_the_jobs_journal_in_order(api):
    job_id = api.post_json(JOBS, {"type": "demo.noop"}).json()["data"]["id"]
    run_due_jobs()
    events = api.get(f"{JOBS}/{job_id}/events").json()["data"]
    assert [e["type"] for e in events] == [
        "job.submitted",
        "job.started",
        "job.succeeded",
    ]
    assert events[0]["id"] < events[1]["id"] < events[2]["id"]
    assert all(e["subject"] == f"job:{job_id}" for e in events)


def test_list_is_newest_first(api):
    ids = [
        api.post_json(JOBS, {"type": "demo.noop"}).json()["data"]["id"]
        for _ in range(3)
    ]
    listed = [j["id"] for j in api.get(JOBS).json()["data"]]
    assert listed == list(reversed(ids))


def test_job_types_list_and_detail(api):
    services.job_type_sync(actor="test")
    listed = api.get("/api/v2/job-types").json()["data"]
    names = [t["name"] for t in listed]
    assert {"demo.noop", "demo.sleep", "demo.flaky"} <= set(names)
    detail = api.get("/api/v2/job-types/demo.sleep").json()["data"]
    assert detail["schema"]["required"] == ["seconds"]
    assert detail["sample_payload"] == {"seconds": 2}
    assert api.get("/api/v2/job-types/none.such").status_code == 404


def test_a_result_that_is_not_json_fails_without_breaking_the_batch(api, monkeypatch):
    from conductor import registry

    def handler(ctx, payload):
        return {"text": "nul \x00 inside" if payload.get("bad") else "fine"}

    spec = dataclasses.replace(registry.get("demo.noop"), handler=handler)
    monkeypatch.setitem(registry._registry, "demo.noop", spec)
    bad = api.post_json(JOBS, {"type": "demo.noop", "payload": {"bad": True}})
    good = api.post_json(JOBS, {"type": "demo.noop", "payload": {}})
    run_due_jobs()
    assert (
        Job.objects.get(id=bad.json()["data"]["id"]).error["code"] == "RESULT_INVALID"
    )
    assert Job.objects.get(id=good.json()["data"]["id"]).state == "succeeded"
    assert json.dumps(Job.objects.get(id=good.json()["data"]["id"]).result)


def test_job_types_show_measured_average_and_p95_run_time(
    api, django_assert_max_num_queries
):
    services.job_type_sync(actor="test")
    job_type = services.job_type_ensure(name="demo.sleep")
    now = timezone.now()
    for index, duration in enumerate([10] * 19 + [1000]):  # p95 of 20 is the 19th
        job = Job.objects.create(job_type=job_type, run_at=now, attempts=1)
        RetryAttempt.objects.create(
            job=job, attempt_number=1, status="success", started_at=now,
            finished_at=now - timedelta(seconds=index), duration_ms=duration,
        )  # fmt: skip
    with django_assert_max_num_queries(3):  # key, types, stats: not one per type
        listed = {t["name"]: t for t in api.get("/api/v2/job-types").json()["data"]}
    assert listed["demo.sleep"]["run_time"] == {
        "samples": 20, "avg_ms": 59.5, "p95_ms": 10.0,
    }  # fmt: skip
    assert listed["demo.noop"]["run_time"] == {
        "samples": 0, "avg_ms": None, "p95_ms": None,
    }  # fmt: skip
    detail = api.get("/api/v2/job-types/demo.sleep").json()["data"]
    assert detail["run_time"] == listed["demo.sleep"]["run_time"]
