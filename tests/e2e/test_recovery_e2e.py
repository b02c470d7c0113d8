"""End to end: retries on their backoff schedule, the dead-letter queue and a circuit
breaker, with a real Celery worker and a real beat (its tick every 0.25 s).

Worker and beat share a Redis database of this run's own (see ``_own_redis``), so
another test run's worker on the shared test Redis cannot take this run's tick or
doorbell messages. The test process's own submit doorbells still go to the shared
Redis and may be lost: the tick rings the doorbell for every due queue, which is what
these tests lean on anyway (SPEC §3: a retry starts within a tick of its ``retry_at``).
"""

import os
import zlib
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest

from conductor.models import Event, Job, RetryAttempt
from tests.e2e.conftest import wait_until
from tests.factories import api_job

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TICK = {"CONDUCTOR_ENGINE_TICK_S": 0.25}
# A retry may start this late after its retry_at: a tick (0.25 s), the doorbell's
# trip through Redis, and the claim.
LATE = timedelta(seconds=0.75)
POLICY = {
    "strategy": "exponential",
    "initial_delay_ms": 1000,
    "backoff_multiplier": 2,
    "max_retries": 3,
    "jitter": 0.1,
}


def _own_redis() -> str:
    """This run's Redis database for worker and beat (CONDUCTOR_E2E_REDIS_URL wins)."""
    from django.conf import settings
    from django.db import connection

    if url := os.environ.get("CONDUCTOR_E2E_REDIS_URL"):
        return url
    base = urlsplit(settings.REDIS_URL or "redis://127.0.0.1:6379/15")
    name = connection.settings_dict["NAME"].encode()
    return urlunsplit(base._replace(path=f"/{10 + zlib.crc32(name) % 5}"))


@pytest.fixture
def engine(start_worker, start_beat):
    env = {**TICK, "REDIS_URL": _own_redis()}
    start_worker(concurrency=2, **env)
    start_beat(**env)


def _job(api, job_id: str) -> dict:
    return api.get(f"/api/v2/jobs/{job_id}").json()["data"]


def _at(text: str | None) -> datetime:
    assert text, "expected a timestamp"
    return datetime.fromisoformat(text)


def _events(subject_id: str) -> list[Event]:
    return list(Event.objects.filter(subject_id=subject_id).order_by("id"))


def test_retries_follow_their_exponential_backoff_then_the_job_dead_letters(
    engine, api
):
    job_id = api_job(
        api, type="demo.flaky", payload={"fail_rate": 1}, retry_policy=POLICY
    )

    wait_until(lambda: _job(api, job_id)["state"] == "dead", timeout=25)

    attempts = api.get(f"/api/v2/jobs/{job_id}/attempts").json()["data"]
    assert [a["attempt_number"] for a in attempts] == [1, 2, 3, 4]
    assert {a["status"] for a in attempts} == {"failed"}
    assert {a["error_code"] for a in attempts} == {"SERVICE_UNAVAILABLE"}
    assert attempts[-1]["retry_at"] is None  # no fifth attempt was planned
    for before, after, base_s in zip(
        attempts[:-1], attempts[1:], (1, 2, 4), strict=True
    ):
        started, finished = _at(before["started_at"]), _at(before["finished_at"])
        retry_at, next_started = _at(before["retry_at"]), _at(after["started_at"])
        base = timedelta(seconds=base_s)
        # The backoff chosen: 1 s, 2 s, 4 s after the failure, within the ±10 % jitter.
        assert base * 0.9 <= retry_at - finished <= base * 1.1, before
        # Never early, and late by at most a tick and a pickup.
        assert retry_at <= next_started <= retry_at + LATE, (before, after)
        # Hence start to start: the delay, plus the attempt's run time and lateness.
        gap = next_started - started
        assert base * 0.9 <= gap <= base * 1.1 + (finished - started) + LATE, gap

    job = _job(api, job_id)
    assert job["attempts"] == 4 and job["error"]["code"] == "SERVICE_UNAVAILABLE"
    response = api.get(f"/api/v2/dlq?job={job_id}")
    assert response.status_code == 200, response.content
    [entry] = response.json()["data"]
    assert entry["job_id"] == job_id and entry["status"] == "open"
    assert entry["error_code"] == "SERVICE_UNAVAILABLE" and entry["retry_count"] == 3
    assert [a["attempt_number"] for a in entry["attempts"]] == [1, 2, 3, 4]
    types = [e.type for e in _events(job_id)]
    assert types.count("job.started") == 4 and types.count("job.retry_scheduled") == 3
    assert types[-2:] == ["job.dead_lettered", "dlq.entry_added"], types
    for event in _events(job_id)[-2:]:
        assert event.data["attempts"] == 4 and event.data["error_code"] == (
            "SERVICE_UNAVAILABLE"
        )


def _breaker(service: str):
    from recovery.models import CircuitBreaker

    return CircuitBreaker.objects.get(service_name=service)


def _transitions(service: str) -> list[tuple[str, str]]:
    from recovery.models import BreakerTransition

    rows = BreakerTransition.objects.filter(breaker__service_name=service)
    return list(rows.order_by("created_at", "id").values_list("from_state", "to_state"))


def test_an_open_breaker_parks_jobs_then_one_trial_closes_it(engine, api):
    from recovery.services import breaker_ensure, breaker_update

    breaker_ensure(service="svc")
    breaker_update(
        service="svc",
        changes={
            "failure_threshold": 2,
            "timeout_ms": 2000,
            "monitoring_window_ms": 60000,
            "success_threshold": 1,
        },
        actor="test",
    )
    failing = [
        api_job(
            api,
            type="demo.flaky",
            payload={"fail_rate": 1},
            max_retries=0,
            breaker="svc",
        )
        for _ in range(2)
    ]

    wait_until(lambda: _breaker("svc").state == "open", timeout=15)
    opened_at = _breaker("svc").opened_at
    assert _transitions("svc") == [("closed", "open")]
    opened = Event.objects.get(type="breaker.opened", subject_id="svc")
    assert opened.data["to"] == "open"
    assert {_job(api, j)["state"] for j in failing} == {"dead"}

    calls = [api_job(api, breaker="svc") for _ in range(3)]
    # The tick parks them while the breaker is open (2 s from opened_at).
    wait_until(
        lambda: Job.objects.filter(id__in=calls, state="parked").count() == 3,
        timeout=1.5,
        interval=0.05,
    )
    assert _breaker("svc").state == "open"
    for job_id in calls:
        job = _job(api, job_id)
        assert job["state"] == "parked" and job["attempts"] == 0
        parked = [e for e in _events(job_id) if e.type == "job.parked"]
        assert len(parked) == 1 and parked[0].data["breaker"] == "svc"
        assert _at(parked[0].data["until"]) == opened_at + timedelta(seconds=2)

    wait_until(
        lambda: all(_job(api, j)["state"] == "succeeded" for j in calls), timeout=15
    )

    assert _transitions("svc") == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert _breaker("svc").state == "closed"
    half_opened = Event.objects.get(type="breaker.half_opened", subject_id="svc")
    closed = Event.objects.get(type="breaker.closed", subject_id="svc")
    assert opened.id < half_opened.id < closed.id
    assert half_opened.created_at >= opened_at + timedelta(seconds=2)
    runs = sorted(
        RetryAttempt.objects.filter(job_id__in=calls), key=lambda a: a.started_at
    )
    # One attempt each: parking never used up a retry, and nothing ran twice.
    assert sorted(str(a.job_id) for a in runs) == sorted(calls)
    assert all(a.status == "success" for a in runs)
    # Nothing ran while the breaker was open.
    assert all(a.started_at >= half_opened.created_at for a in runs)
    trial, others = runs[0], runs[1:]
    # Exactly one trial: when it succeeded, the other two had not started yet.
    assert all(trial.finished_at <= other.started_at for other in others)
    assert str(trial.job_id) in _breaker_reason("svc", "closed")
    assert closed.created_at <= min(other.started_at for other in others)


def _breaker_reason(service: str, to_state: str) -> str:
    from recovery.models import BreakerTransition

    row = BreakerTransition.objects.get(
        breaker__service_name=service, to_state=to_state
    )
    return row.reason
