"""Claiming due jobs on PostgreSQL: order, fair share, limits, and races."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from conductor.engine.claim import claim_batch
from conductor.engine.sweep import jobs_age
from conductor.models import Job, JobType, Priority, RetryAttempt
from tests.factories import JobFactory, jobs_submitted


def _claim(limit=100, worker="w"):
    return claim_batch(
        queue="default",
        worker=worker,
        limit=limit,
        now=timezone.now() + timedelta(seconds=1),
        lease_s=30,
    )


@pytest.mark.django_db
def test_higher_priority_first_then_oldest():
    low = JobFactory(priority="low")
    normal = JobFactory()
    critical = JobFactory(priority="critical")
    high = JobFactory(priority="high")
    claimed = [c.id for c in _claim()]
    assert claimed == [str(j.id) for j in (critical, high, normal, low)]


@pytest.mark.django_db
def test_fair_share_interleaves_job_types_at_the_same_priority():
    JobFactory.create_batch(10)
    JobFactory.create_batch(3, type="demo.sleep", payload={"seconds": 0})
    first_six = [c.type for c in _claim(limit=6)]
    assert first_six.count("demo.sleep") == 3  # not starved behind ten noops
    assert first_six[:2] in (["demo.noop", "demo.sleep"], ["demo.sleep", "demo.noop"])


@pytest.mark.django_db
def test_claim_marks_running_and_records_attempt_and_event():
    job = JobFactory()
    [claimed] = _claim(worker="w1")
    job.refresh_from_db()
    assert job.state == "running" and job.locked_by == "w1" and job.attempts == 1
    assert job.lease_expires_at > timezone.now()
    attempt = RetryAttempt.objects.get(job=job)
    assert attempt.status == "pending" and attempt.attempt_number == 1
    assert claimed.attempt == 1
    assert _claim() == []  # nothing left to claim


@pytest.mark.django_db
def test_future_and_paused_work_is_not_claimed():
    JobFactory(run_at=timezone.now() + timedelta(hours=1))
    JobFactory(type="demo.sleep", payload={"seconds": 0})
    JobType.objects.filter(name="demo.sleep").update(paused=True)
    assert _claim() == []
    JobType.objects.filter(name="demo.sleep").update(paused=False)
    assert [c.type for c in _claim()] == ["demo.sleep"]


@pytest.mark.django_db
def test_concurrency_limit_per_type():
    JobFactory.create_batch(5)
    JobType.objects.filter(name="demo.noop").update(max_concurrency=2)
    assert len(_claim()) == 2
    assert _claim() == []  # both slots taken
    Job.objects.filter(state="running").update(state="succeeded")
    assert len(_claim()) == 2


@pytest.mark.django_db
def test_aging_raises_waiting_jobs_one_level_per_interval(settings):
    settings.CONDUCTOR_ENGINE_AGING_S = 60
    with time_machine.travel(timezone.now(), tick=False) as clock:
        old_low = JobFactory(priority="low")
        clock.shift(timedelta(minutes=2))
        fresh_low = JobFactory(priority="low")
        assert jobs_age(now=timezone.now()) == 1
        old_low.refresh_from_db()
        fresh_low.refresh_from_db()
        assert old_low.priority == Priority.HIGH
        assert old_low.base_priority == Priority.LOW
        assert fresh_low.priority == Priority.LOW
        clock.shift(timedelta(hours=1))
        jobs_age(now=timezone.now())
        old_low.refresh_from_db()
        assert old_low.priority == Priority.CRITICAL  # capped at the top level
        normal = JobFactory()
        assert _claim(limit=1)[0].id == str(old_low.id)  # the aged job goes first
        assert normal


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_take_the_same_job():
    total = 600
    jobs_submitted(total)
    taken: list[str] = []
    lock = threading.Lock()

    def claimer(name):
        try:
            while batch := _claim(limit=25, worker=name):
                with lock:
                    taken.extend(c.id for c in batch)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(taken) == total and len(set(taken)) == total
    assert RetryAttempt.objects.count() == total
    workers = set(Job.objects.values_list("locked_by", flat=True))
    assert len(workers) > 1  # they really ran side by side
