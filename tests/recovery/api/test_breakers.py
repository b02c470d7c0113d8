"""Circuit breakers through API v2, and the engine obeying them (PostgreSQL; jobs run
in-process, the tick called by hand)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from conductor.engine.claim import claim_batch
from conductor.engine.complete import complete_batch
from conductor.engine.judge import judge_batch
from conductor.engine.supervise import run_batch
from conductor.engine.tick import tick
from conductor.models import Event, Job
from recovery.models import BreakerTransition, CircuitBreaker
from tests.factories import api_job
from tests.observe import fields
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"
BREAKERS = "/api/v2/breakers"
WORKER = "test-worker"


def _state(job_id):
    return Job.objects.get(id=job_id).state


@pytest.fixture
def svc(api):
    """The breaker ``svc``, made the way it is in production: by a job naming it."""
    api_job(api, breaker="svc")
    run_due_jobs()
    return CircuitBreaker.objects.get(service_name="svc")


# --- reading --------------------------------------------------------------------


def test_list_and_detail_show_state_and_thresholds(api, svc):
    response = api.get(BREAKERS)
    assert response.status_code == 200
    (item,) = response.json()["data"]
    assert item["service"] == "svc" and item["state"] == "closed"
    assert item["failure_threshold"] == settings.CONDUCTOR_BREAKER_FAILURE_THRESHOLD
    assert item["success_threshold"] == settings.CONDUCTOR_BREAKER_SUCCESS_THRESHOLD
    assert item["timeout_ms"] == settings.CONDUCTOR_BREAKER_TIMEOUT_MS
    assert item["monitoring_window_ms"] == settings.CONDUCTOR_BREAKER_WINDOW_MS
    assert item["open_until"] is None and item["opened_at"] is None
    assert item["failures_in_window"] == 0 and item["trial_job"] is None
    detail = api.get(f"{BREAKERS}/svc").json()["data"]
    assert detail == item


def test_failures_in_the_window_are_counted(api, svc):
    api_job(api, type="demo.flaky", payload={"fail_rate": 1}, breaker="svc")
    run_due_jobs()
    data = api.get(f"{BREAKERS}/svc").json()["data"]
    assert data["state"] == "closed" and data["failures_in_window"] == 1


def test_unknown_service_is_404_for_every_operation(api):
    assert api.get(f"{BREAKERS}/nope").status_code == 404
    assert (
        api.patch(f"{BREAKERS}/nope", {"timeout_ms": 5000}, format="json").status_code
        == 404
    )
    assert api.post_json(f"{BREAKERS}/nope/reset", {}).status_code == 404
    assert api.post_json(f"{BREAKERS}/nope/force-open", {}).status_code == 404
    assert api.get(f"{BREAKERS}/nope/transitions").status_code == 404
    assert api.get(f"{BREAKERS}/bad%20name").status_code == 404
    assert not CircuitBreaker.objects.exists()


# --- thresholds -----------------------------------------------------------------


def test_patch_changes_thresholds_and_journals_them(api, svc):
    response = api.patch(
        f"{BREAKERS}/svc", {"failure_threshold": 2, "timeout_ms": 5000}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["failure_threshold"] == 2 and data["timeout_ms"] == 5000
    svc.refresh_from_db()
    assert svc.failure_threshold == 2 and svc.timeout_ms == 5000
    event = Event.objects.get(type="breaker.updated")
    assert event.subject_id == "svc" and event.actor == "api-key:test-key"
    assert event.data == {"failure_threshold": 2, "timeout_ms": 5000}


@pytest.mark.parametrize(
    ("body", "field", "bound"),
    [
        ({"failure_threshold": 0}, "failure_threshold", "1"),  # at least one failure
        ({"failure_threshold": 1001}, "failure_threshold", "1000"),
        ({"success_threshold": 101}, "success_threshold", "100"),
        ({"timeout_ms": 999}, "timeout_ms", "1000"),  # at least a second
        ({"monitoring_window_ms": 86_400_001}, "monitoring_window_ms", "86400000"),
    ],
)
def test_patch_out_of_bounds_names_the_field_and_the_bound(
    api, svc, body, field, bound
):
    response = api.patch(f"{BREAKERS}/svc", body, format="json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == field and bound in error["message"]
    svc.refresh_from_db()
    assert svc.failure_threshold == settings.CONDUCTOR_BREAKER_FAILURE_THRESHOLD
    assert not Event.objects.filter(type="breaker.updated").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "open"}, "state"),  # not a threshold: unknown
        ({"failure_threshold": "3"}, "failure_threshold"),  # text, not a number
        ({"timeout_ms": 1500.5}, "timeout_ms"),  # not an integer
        ({"failure_threshold": True}, "failure_threshold"),  # not a number
    ],
)
def test_patch_refuses_unknown_fields_and_wrong_types(api, svc, body, field):
    response = api.patch(f"{BREAKERS}/svc", body, format="json")
    assert response.status_code == 400
    assert fields(response) == [field]


def test_patch_needs_the_write_scope(make_key, svc):
    from tests.conftest import JsonClient

    reader = JsonClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(scopes=['read'])}")
    response = reader.patch(f"{BREAKERS}/svc", {"timeout_ms": 5000}, format="json")
    assert response.status_code == 403
    assert reader.post_json(f"{BREAKERS}/svc/force-open", {}).status_code == 403
    svc.refresh_from_db()
    assert svc.state == "closed" and svc.timeout_ms != 5000


# --- operator actions -----------------------------------------------------------


def test_force_open_then_reset_with_transitions_and_events(api, svc):
    response = api.post_json(f"{BREAKERS}/svc/force-open", {})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "open"
    svc.refresh_from_db()
    assert svc.state == "open" and svc.opened_at is not None
    until = svc.opened_at + timedelta(milliseconds=svc.timeout_ms)
    assert data["open_until"] == until.isoformat().replace("+00:00", "Z")
    opened = Event.objects.get(type="breaker.opened", subject_id="svc")
    assert opened.actor == "api-key:test-key" and opened.data["to"] == "open"

    response = api.post_json(f"{BREAKERS}/svc/reset", {})
    assert response.status_code == 200
    assert response.json()["data"]["state"] == "closed"
    assert response.json()["data"]["open_until"] is None
    closed = Event.objects.get(type="breaker.closed", subject_id="svc")
    assert closed.actor == "api-key:test-key"

    transitions = api.get(f"{BREAKERS}/svc/transitions").json()["data"]
    assert [(t["from_state"], t["to_state"]) for t in transitions] == [
        ("open", "closed"),
        ("closed", "open"),
    ]
    assert transitions[0]["reason"] == "reset by an operator"
    assert {t["actor"] for t in transitions} == {"api-key:test-key"}
    assert {t["service"] for t in transitions} == {"svc"}


def test_reset_of_a_closed_breaker_changes_nothing(api, svc):
    response = api.post_json(f"{BREAKERS}/svc/reset", {})
    assert response.status_code == 200
    assert not BreakerTransition.objects.exists()
    assert not Event.objects.filter(type__startswith="breaker.").exists()


# --- the engine obeys the breaker -----------------------------------------------


def test_breaker_opens_parks_its_jobs_then_lets_exactly_one_trial_through(api, svc):
    # Low thresholds first (the default needs 5 failures, 30 s open).
    response = api.patch(
        f"{BREAKERS}/svc", {"failure_threshold": 2, "timeout_ms": 1000}, format="json"
    )
    assert response.status_code == 200

    # Two retryable failures (SERVICE_UNAVAILABLE) of jobs naming the breaker open it.
    failing = [
        api_job(
            api,
            type="demo.flaky",
            payload={"fail_rate": 1},
            breaker="svc",
            max_retries=0,
        )
        for _ in range(2)
    ]
    run_due_jobs()
    assert [_state(job_id) for job_id in failing] == ["dead", "dead"]
    data = api.get(f"{BREAKERS}/svc").json()["data"]
    assert data["state"] == "open" and data["open_until"] is not None
    opened = Event.objects.get(type="breaker.opened", subject_id="svc")
    assert opened.actor == "system"
    assert BreakerTransition.objects.get().to_state == "open"

    # The next jobs of that breaker are not claimed; the tick parks them.
    waiting = [api_job(api, breaker="svc") for _ in range(2)]
    other = api_job(api)  # no breaker: runs as usual
    assert run_due_jobs() == 1
    assert _state(other) == "succeeded"
    assert [_state(job_id) for job_id in waiting] == ["pending", "pending"]
    result = tick(now=timezone.now())
    assert result["parked"] == 2
    assert [_state(job_id) for job_id in waiting] == ["parked", "parked"]
    assert run_due_jobs() == 0
    assert Job.objects.get(id=waiting[0]).attempts == 0  # parking costs no attempt

    # Once the timeout has passed, the tick half-opens it and puts the jobs back...
    CircuitBreaker.objects.filter(service_name="svc").update(
        opened_at=timezone.now() - timedelta(minutes=5)
    )
    result = tick(now=timezone.now())
    assert result["half_opened"] == ["svc"] and result["unparked"] == 2
    assert api.get(f"{BREAKERS}/svc").json()["data"]["state"] == "half_open"
    assert Event.objects.filter(type="breaker.half_opened", subject_id="svc").exists()

    # ...and exactly one of them runs as the trial; the other waits for its outcome.
    now = timezone.now()
    claimed = claim_batch(
        queue="default", worker=WORKER, limit=100, now=now, lease_s=30
    )
    assert len(claimed) == 1 and str(claimed[0].id) in waiting
    again = claim_batch(queue="default", worker=WORKER, limit=100, now=now, lease_s=30)
    assert again == []
    data = api.get(f"{BREAKERS}/svc").json()["data"]
    assert data["trial_job"] == str(claimed[0].id)

    # The trial succeeds (success_threshold 1): the breaker closes, the rest runs.
    finished = judge_batch(run_batch(claimed, worker=WORKER))
    complete_batch(finished=finished, worker=WORKER, now=timezone.now())
    assert api.get(f"{BREAKERS}/svc").json()["data"]["state"] == "closed"
    closed = Event.objects.get(type="breaker.closed", subject_id="svc")
    assert str(claimed[0].id) in closed.data["reason"]
    assert run_due_jobs() == 1
    assert [_state(job_id) for job_id in waiting] == ["succeeded", "succeeded"]
    transitions = api.get(f"{BREAKERS}/svc/transitions").json()["data"]
    assert [t["to_state"] for t in transitions] == ["closed", "half_open", "open"]


def test_a_failed_trial_reopens_the_breaker(api, svc):
    api.patch(f"{BREAKERS}/svc", {"failure_threshold": 1}, format="json")
    api.post_json(f"{BREAKERS}/svc/force-open", {})
    CircuitBreaker.objects.filter(service_name="svc").update(
        opened_at=timezone.now() - timedelta(minutes=5)
    )
    trial = api_job(
        api, type="demo.flaky", payload={"fail_rate": 1}, breaker="svc", max_retries=0
    )
    tick(now=timezone.now())
    assert run_due_jobs() == 1
    assert _state(trial) == "dead"
    data = api.get(f"{BREAKERS}/svc").json()["data"]
    assert data["state"] == "open" and data["trial_job"] is None
