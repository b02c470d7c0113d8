"""What actors do to jobs, called as services: cancel (graceful, forced, propagated),
resume, and the requeue that resume and recovery's retry share."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor import services
from conductor.engine.claim import claim_batch
from conductor.errors import Conflict, ValidationFailed
from conductor.journal.catalogue import JOB_RESUMED
from conductor.models import Event, Job, RetryAttempt
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def _claim():
    return claim_batch(
        queue="default", worker="w1", limit=10, now=timezone.now(), lease_s=30
    )


def _later():
    return timezone.now() + timedelta(hours=1)


def test_cancel_of_a_pending_job_ends_it_with_the_actor_and_reason():
    job = JobFactory()
    cancelled = services.job_cancel(job_id=job.id, reason="not needed", actor="ops")
    assert cancelled.state == "cancelled" and cancelled.finished_at is not None
    assert (cancelled.cancel_reason, cancelled.cancelled_by) == ("not needed", "ops")
    event = Event.objects.get(subject_id=str(job.id), type="job.cancelled")
    assert event.actor == "ops"
    assert event.data == {
        "state": "cancelled",
        "reason": "not needed",
        "mode": "graceful",
    }


def test_graceful_cancel_of_a_running_job_only_asks_it_to_stop():
    job = JobFactory()
    _claim()
    asked = services.job_cancel(job_id=job.id, reason="stop please", actor="ops")
    assert asked.state == "running" and asked.cancel_requested_at is not None
    assert Event.objects.filter(subject_id=str(job.id), type="job.cancel_requested")


def test_forced_cancel_takes_the_job_from_its_worker_and_ends_the_attempt():
    job = JobFactory()
    _claim()
    done = services.job_cancel(
        job_id=job.id, reason="stuck", actor="ops", mode="forced"
    )
    assert done.state == "cancelled" and done.locked_by == ""
    attempt = RetryAttempt.objects.get(job=job)
    assert attempt.status == "failed" and attempt.error_code == "CANCELLED"


@pytest.mark.parametrize(
    ("reason", "mode", "fields"),
    [
        ("", "graceful", ["reason"]),  # a reason is required
        ("  ", "graceful", ["reason"]),  # and not blank
        ("x" * 2001, "graceful", ["reason"]),  # nor over 2000 characters
        ("fine", "gently", ["mode"]),  # graceful or forced only
    ],
)
def test_cancel_refuses_bad_input_naming_the_field(reason, mode, fields):
    job = JobFactory()
    with pytest.raises(ValidationFailed) as info:
        services.job_cancel(job_id=job.id, reason=reason, actor="ops", mode=mode)
    assert [e.field for e in info.value.errors] == fields
    assert Job.objects.get(id=job.id).state == "pending"


def test_cancel_of_a_finished_job_is_a_conflict():
    job = JobFactory()
    services.job_cancel(job_id=job.id, reason="once", actor="ops")
    with pytest.raises(Conflict, match="already ended"):
        services.job_cancel(job_id=job.id, reason="twice", actor="ops")


def test_cancel_propagates_to_dependents_and_theirs():
    root = JobFactory(run_at=_later())
    child = JobFactory(depends_on=[str(root.id)])
    grandchild = JobFactory(depends_on=[str(child.id)])
    services.job_cancel(job_id=root.id, reason="withdrawn", actor="ops", propagate=True)
    for job in (root, child, grandchild):
        assert Job.objects.get(id=job.id).state == "cancelled"
    assert Job.objects.get(id=grandchild.id).cancel_reason.startswith("propagated from")


def test_without_propagation_a_dependent_of_a_cancelled_job_fails():
    root = JobFactory(run_at=_later())
    child = JobFactory(depends_on=[str(root.id)])
    services.job_cancel(job_id=root.id, reason="withdrawn", actor="ops")
    child.refresh_from_db()
    assert child.state == "failed" and child.error["code"] == "DEPENDENCY_FAILED"


def test_resume_puts_a_cancelled_job_back_in_the_queue():
    job = JobFactory(run_at=_later())
    services.job_cancel(job_id=job.id, reason="pause it", actor="ops")
    resumed = services.job_resume(job_id=job.id, actor="ops")
    assert resumed.state == "pending" and resumed.cancel_reason == ""
    assert resumed.run_at <= timezone.now()
    assert Event.objects.filter(subject_id=str(job.id), type="job.resumed").exists()
    with pytest.raises(Conflict, match="only cancelled jobs"):
        services.job_resume(job_id=job.id, actor="ops")


def test_requeue_waits_when_the_dependencies_are_not_done():
    dependency = JobFactory(run_at=_later())
    job = JobFactory(depends_on=[str(dependency.id)])
    Job.objects.filter(id=job.id).update(state="cancelled")
    services.job_requeue(
        job=Job.objects.get(id=job.id), event=JOB_RESUMED, actor="ops", data={}
    )
    assert Job.objects.get(id=job.id).state == "waiting"
