"""The one door for job state, called directly: every change is checked against the
state table, written conditionally, and journalled with it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor.backends import CompleteRow
from conductor.errors import IllegalTransition, NotFound
from conductor.journal.catalogue import JOB_PARKED, JOB_READY
from conductor.models import Event, Job
from conductor.services import transitions
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def _types(job):
    rows = Event.objects.filter(subject_type="job", subject_id=str(job.id))
    return list(rows.order_by("id").values_list("type", flat=True))


def test_a_single_transition_moves_and_journals():
    job = JobFactory(depends_on=[str(JobFactory(run_at=timezone.now()).id)])
    assert job.state == "waiting"
    transitions.job_transition(
        job_id=job.id, to="pending", expect="waiting", event=JOB_READY, actor="me"
    )
    job.refresh_from_db()
    assert job.state == "pending"
    ready = Event.objects.get(subject_id=str(job.id), type="job.ready")
    assert (ready.data, ready.actor) == ({"state": "pending"}, "me")


def test_an_illegal_transition_raises_and_changes_nothing():
    job = JobFactory()
    with pytest.raises(IllegalTransition, match="from pending to succeeded"):
        transitions.job_transition(
            job_id=job.id, to="succeeded", expect="pending", event=JOB_READY
        )
    job.refresh_from_db()
    assert job.state == "pending" and _types(job) == ["job.submitted"]


def test_the_loser_of_a_race_is_told_the_real_state():
    job = JobFactory()
    Job.objects.filter(id=job.id).update(state="cancelled")  # someone else won
    with pytest.raises(IllegalTransition, match="from cancelled to parked"):
        transitions.job_transition(job_id=job.id, to="parked", event=JOB_PARKED)
    with pytest.raises(NotFound):
        transitions.job_transition(
            job_id="00000000-0000-0000-0000-000000000000", to="parked", event=JOB_PARKED
        )


def test_a_bulk_transition_moves_only_the_jobs_still_in_the_expected_state():
    pending = JobFactory.create_batch(3)
    Job.objects.filter(id=pending[0].id).update(state="running")
    moved = transitions.jobs_transition(
        ids=[str(j.id) for j in pending], expect="pending", to="parked",
        event=JOB_PARKED, data=lambda _id: {"breaker": "b", "until": "later"},
        now=timezone.now(),
    )  # fmt: skip
    assert sorted(moved) == sorted(str(j.id) for j in pending[1:])
    assert Job.objects.get(id=pending[0].id).state == "running"
    event = Event.objects.filter(type="job.parked").first()
    assert event.data == {"state": "parked", "breaker": "b", "until": "later"}
    assert Event.objects.filter(type="job.parked").count() == 2


def test_a_bulk_transition_refuses_an_illegal_pair():
    with pytest.raises(IllegalTransition):
        transitions.jobs_transition(
            ids=[], expect="succeeded", to="pending", event=JOB_READY,
            data=lambda _id: {}, now=timezone.now(),
        )  # fmt: skip


def test_new_jobs_start_only_in_an_initial_state():
    with pytest.raises(IllegalTransition):
        transitions.jobs_create(
            rows=[{"state": "running"}], events=[], now=timezone.now(), actor="",
            trace_id="",
        )  # fmt: skip
    assert Job.objects.count() == 0


def test_completion_refuses_an_outcome_no_running_job_may_have():
    now = timezone.now()
    row = CompleteRow(
        id="x", attempt=1, worker="w", state="waiting", result=None,
        has_result=False, error=None, run_at=None, finished_at=now, result_file="",
        result_reference=None,
        attempt_status="failed", attempt_finished_at=now, duration_ms=1,
        error_code="", error_message="", traceback="", retry_at=None,
    )  # fmt: skip
    with pytest.raises(IllegalTransition, match="from running to waiting"):
        transitions.jobs_complete(rows=[row], events=[], now=now + timedelta(0))
