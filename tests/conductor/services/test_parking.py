"""Parking (breakers): only due jobs are parked, and a job's ``run_at`` never moves —
an opened and reset breaker must not make a delayed job run early."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor.engine.tick import tick
from conductor.models import Event, Job
from recovery.services import breaker_force_open, breaker_reset
from tests.factories import BreakerFactory, JobFactory
from tests.worker import claim

pytestmark = pytest.mark.django_db


def _reload(job) -> Job:
    return Job.objects.get(id=job.id)


def test_a_delayed_job_is_neither_parked_nor_brought_forward():
    BreakerFactory(service="b")
    tomorrow = timezone.now() + timedelta(days=1)
    job = JobFactory(breaker="b", run_at=tomorrow)
    breaker_force_open(service="b", actor="ops")
    tick(now=timezone.now())
    assert (_reload(job).state, _reload(job).run_at) == ("pending", tomorrow)
    breaker_reset(service="b", actor="ops")
    tick(now=timezone.now())
    assert (_reload(job).state, _reload(job).run_at) == ("pending", tomorrow)
    assert claim() == []  # still not due
    assert not Event.objects.filter(type__in=["job.parked", "job.unparked"])


def test_a_due_job_is_parked_and_put_back_with_its_own_run_at():
    BreakerFactory(service="b")
    job = JobFactory(breaker="b")
    due_at = job.run_at
    breaker_force_open(service="b", actor="ops")
    tick(now=timezone.now())
    assert (_reload(job).state, _reload(job).run_at) == ("parked", due_at)
    parked = Event.objects.get(subject_id=str(job.id), type="job.parked")
    assert parked.data["breaker"] == "b" and parked.data["until"]
    breaker_reset(service="b", actor="ops")
    tick(now=timezone.now())
    assert (_reload(job).state, _reload(job).run_at) == ("pending", due_at)
    assert [c.id for c in claim()] == [str(job.id)]


def test_a_delayed_job_that_comes_due_while_the_breaker_is_open_is_parked_then():
    BreakerFactory(service="b", timeout_ms=3_600_000)  # open for an hour
    soon = timezone.now() + timedelta(minutes=5)
    job = JobFactory(breaker="b", run_at=soon)
    breaker_force_open(service="b", actor="ops")
    tick(now=timezone.now())
    assert _reload(job).state == "pending"
    tick(now=soon + timedelta(seconds=1))
    assert (_reload(job).state, _reload(job).run_at) == ("parked", soon)
