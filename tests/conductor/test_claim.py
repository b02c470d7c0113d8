"""Claiming due jobs on PostgreSQL: order, fair share, limits, and races."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from conductor import services
from conductor.engine.claim import claim_batch
from conductor.engine.sweep import jobs_age
from conductor.models import Job, JobType, Priority, RetryAttempt
from conductor.services import JobRequest


def _submit(type_="demo.noop", n=1, payload=None, **kw):
    requests = [JobRequest(type=type_, payload=payload or {}, **kw) for _ in range(n)]
    return [job for job, _ in services.jobs_submit(requests=requests)]


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
    low = _submit(priority="low")[0]
    normal = _submit()[0]
    critical = _submit(priority="critical")[0]
    high = _submit(priority="high")[0]
    claimed = [c.id for c in _claim()]
    assert claimed == [str(j.id) for j in (critical, high, normal, low)]


@pytest.mark.django_db
def test_fair_share_interleaves_job_types_at_the_same_priority():
    _submit("demo.noop", n=10)
    _submit("demo.sleep", n=3, payload={"seconds": 0})
    first_six = [c.type for c in _claim(limit=6)]
    assert first_six.count("demo.sleep") == 3  # not starved behind ten noops
    assert first_six[:2] in (["demo.noop", "demo.sleep"], ["demo.sleep", "demo.noop"])


@pytest.mark.django_db
def test_claim_marks_running_and_records_attempt_and_event():
    job = _submit()[0]
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
    _submit(run_at=timezone.now() + timedelta(hours=1))
    _submit("demo.sleep", payload={"seconds": 0})
    JobType.objects.filter(name="demo.sleep").update(paused=True)
    assert _claim() == []
    JobType.objects.filter(name="demo.sleep").update(paused=False)
    assert [c.type for c in _claim()] == ["demo.sleep"]


@pytest.mark.django_db
def test_concurrency_limit_per_type():
    _submit(n=5)
    JobType.objects.filter(name="demo.noop").update(max_concurrency=2)
    assert len(_claim()) == 2
    assert _claim() == []  # both slots taken
    Job.objects.filter(state="running").update(state="succeeded")
    assert len(_claim()) == 2


@pytest.mark.django_db
def test_aging_raises_waiting_jobs_one_level_per_interval(settings):
    settings.CONDUCTOR_ENGINE_AGING_S = 60
    old_low = _submit(priority="low")[0]
    fresh_low = _submit(priority="low")[0]
    Job.objects.filter(id=old_low.id).update(
        run_at=timezone.now() - timedelta(minutes=2)
    )
    assert jobs_age(now=timezone.now()) == 1
    old_low.refresh_from_db()
    fresh_low.refresh_from_db()
    assert old_low.priority == Priority.HIGH and old_low.base_priority == Priority.LOW
    assert fresh_low.priority == Priority.LOW
    Job.objects.filter(id=old_low.id).update(run_at=timezone.now() - timedelta(hours=1))
    jobs_age(now=timezone.now())
    old_low.refresh_from_db()
    assert old_low.priority == Priority.CRITICAL  # capped at the top level
    normal = _submit()[0]
    assert _claim(limit=1)[0].id == str(old_low.id)  # the aged job goes first
    assert normal


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_take_the_same_job():
    total = 600
    _submit(n=total)
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
