"""Breakers under concurrency, on PostgreSQL with one connection per thread."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from conductor.engine.claim import claim_batch
from conductor.models import Event, Job
from recovery.models import BreakerTransition, CircuitBreaker
from recovery.services import (
    BreakerReport,
    breaker_ensure,
    breaker_record,
    breaker_update,
)
from tests.factories import JobFactory, jobs_submitted

pytestmark = pytest.mark.django_db(transaction=True)


def _threads(target, count):
    errors = []

    def run(index):
        try:
            target(index)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_concurrent_failures_trip_the_breaker_exactly_once():
    breaker_ensure(service="svc")
    breaker_update(service="svc", changes={"failure_threshold": 5}, actor="t")
    barrier = threading.Barrier(8)

    def fail(index):
        barrier.wait()
        for n in range(3):
            breaker_record(
                service="svc",
                outcomes=[BreakerReport(f"j{index}-{n}", False, True, timezone.now())],
            )

    _threads(fail, 8)
    assert CircuitBreaker.objects.get(service_name="svc").state == "open"
    assert BreakerTransition.objects.filter(to_state="open").count() == 1
    assert Event.objects.filter(type="breaker.opened").count() == 1


def test_concurrent_claimers_admit_a_single_trial():
    breaker_ensure(service="svc")
    jobs_submitted(20, breaker="svc")
    CircuitBreaker.objects.filter(service_name="svc").update(
        state="half_open", opened_at=timezone.now() - timedelta(minutes=1)
    )
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def claim(index):
        barrier.wait()
        for _ in range(3):
            batch = claim_batch(queue="default", worker=f"w{index}", limit=10,
                                now=timezone.now(), lease_s=30)  # fmt: skip
            with lock:
                claimed.extend(job.id for job in batch)

    _threads(claim, 6)
    assert len(claimed) == 1
    breaker = CircuitBreaker.objects.get(service_name="svc")
    assert breaker.trial_job == claimed[0] and breaker.trial_until > timezone.now()
    assert Job.objects.filter(state="running").count() == 1


def test_parked_jobs_explain_their_breaker_and_keep_their_attempts():
    from conductor.engine.explain import job_explain
    from conductor.engine.tick import tick

    breaker_ensure(service="smtp")
    breaker_update(service="smtp", changes={"failure_threshold": 1}, actor="t")
    breaker_record(service="smtp",
                   outcomes=[BreakerReport("x", False, True, timezone.now())])  # fmt: skip
    job = JobFactory(breaker="smtp")
    assert claim_batch(queue="default", worker="w", limit=10, now=timezone.now(),
                       lease_s=30) == []  # fmt: skip
    tick(now=timezone.now())
    job.refresh_from_db()
    assert job.state == "parked" and job.attempts == 0
    [reason] = job_explain(job=job, now=timezone.now())
    assert reason["code"] == "PARKED" and reason["data"]["breaker"] == "smtp"
    assert reason["data"]["until"] is not None
    assert Event.objects.filter(type="job.parked", subject_id=str(job.id)).exists()
