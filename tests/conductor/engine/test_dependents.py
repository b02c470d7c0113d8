"""Retries that waiting jobs ask of their dependencies are carried out by the engine,
where recovery is at hand: a dead dependency runs again and leaves the DLQ. When the
ask arises outside the engine (a submit, a cancel), a doorbell brings it there."""

import pytest

from conductor import doorbell
from conductor.engine.dependents import waiting_follow
from conductor.models import Job
from recovery.models import DeadLetter
from tests.factories import DOOMED, JobFactory
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def rings(monkeypatch):
    """The doorbell's messages, instead of Celery's."""
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(doorbell, "_send", lambda task, args: sent.append((task, args)))
    return sent


def _dead_job() -> Job:
    job = JobFactory(type="demo.flaky", payload=DOOMED)
    run_due_jobs()
    return Job.objects.get(id=job.id)


def test_a_submit_on_a_dead_dependency_with_retry_asks_the_engine(
    rings, django_capture_on_commit_callbacks
):
    dead = _dead_job()
    assert dead.state == "dead"
    with django_capture_on_commit_callbacks(execute=True):
        job = JobFactory(depends_on=[str(dead.id)], on_dependency_failure="retry")
    assert job.state == "waiting"
    assert (doorbell.RESOLVE, [[str(job.id)]]) in rings

    waiting_follow(job_ids=[str(job.id)])  # what the ring's task does

    dead.refresh_from_db()
    assert dead.state == "pending"  # it runs again ...
    entry = DeadLetter.objects.get(job=dead)
    assert entry.resolution == "resolved"  # ... so it is out of the queue
    assert entry.notes == f"retried: retried for dependent {job.id}"
    assert Job.objects.get(id=job.id).dependency_retries == 1


def test_deciding_again_is_harmless_when_nothing_changed():
    dependency = JobFactory(run_at=None)
    job = JobFactory(depends_on=[str(dependency.id)])
    waiting_follow(job_ids=[str(job.id)])
    assert Job.objects.get(id=job.id).state == "waiting"
    assert Job.objects.get(id=job.id).dependency_retries == 0


def test_a_dependency_that_ran_again_already_is_not_retried_twice():
    dead = _dead_job()
    first = JobFactory(depends_on=[str(dead.id)], on_dependency_failure="retry")
    second = JobFactory(depends_on=[str(dead.id)], on_dependency_failure="retry")
    waiting_follow(job_ids=[str(first.id), str(second.id)])
    dead.refresh_from_db()
    assert dead.state == "pending" and dead.attempts == 1
    retried = DeadLetter.objects.filter(job=dead, resolution="resolved").count()
    assert retried == 1
