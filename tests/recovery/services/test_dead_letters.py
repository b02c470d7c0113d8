"""The dead-letter queue's services, called directly: entries made when jobs die,
resubmit with an audit record, resolve, discard, bulk, cleanup; and an actor's retry
of a dead job, which takes it out of the queue."""

import pytest
from django.db import transaction
from django.utils import timezone

from conductor.errors import Conflict, NotFound, ValidationFailed
from conductor.models import Event, Job
from recovery import services
from recovery.models import DeadLetter, Resubmission
from tests.factories import DOOMED, JobFactory
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db


def _dead(**fields) -> DeadLetter:
    job = JobFactory(type="demo.flaky", payload=DOOMED, **fields)
    run_due_jobs()
    return DeadLetter.objects.get(job=job)


def test_a_dead_job_gets_an_entry_with_its_snapshot_error_and_events():
    entry = _dead(priority="high")
    assert entry.job.state == "dead"
    assert entry.snapshot["priority"] == "high"
    assert entry.snapshot["payload"] == DOOMED
    assert entry.error_code == "VALIDATION_ERROR" and entry.resolved_at is None
    assert [a["attempt_number"] for a in entry.attempts] == [1]
    types = set(Event.objects.values_list("type", flat=True))
    assert {"job.dead_lettered", "dlq.entry_added"} <= types


def test_add_writes_one_entry_per_death_in_bulk():
    jobs = JobFactory.create_batch(2)
    Job.objects.filter(id__in=[j.id for j in jobs]).update(
        state="dead", error={"code": "X", "message": "m"}
    )
    with transaction.atomic():
        added = services.dead_letters_add(
            job_ids=[str(j.id) for j in jobs], now=timezone.now()
        )
    assert added == 2 and DeadLetter.objects.count() == 2


def test_resubmit_runs_a_new_job_with_the_edited_payload_and_keeps_an_audit():
    entry = _dead()
    fixed = {"fail_rate": 0}
    entry, job = services.dead_letter_resubmit(
        dead_letter_id=entry.id, reason="fixed the rate", actor="ops", payload=fixed
    )
    assert (entry.resolution, entry.actor) == ("resubmitted", "ops")
    assert job.payload == fixed and job.state == "pending"
    audit = Resubmission.objects.get(dead_letter=entry)
    assert audit.original_payload == DOOMED and audit.modified_payload == fixed
    assert audit.new_job_id == job.id and audit.reason == "fixed the rate"
    run_due_jobs()
    assert Job.objects.get(id=job.id).state == "succeeded"


@pytest.mark.parametrize(
    ("reason", "payload", "field"),
    [
        ("too short", None, "reason"),  # 10 to 500 characters
        ("x" * 501, None, "reason"),
        ("a good reason", {"fail_rate": 2}, "payload.fail_rate"),  # the type's schema
    ],
)
def test_resubmit_refuses_bad_input_naming_the_field(reason, payload, field):
    entry = _dead()
    kwargs = {"payload": payload} if payload is not None else {}
    with pytest.raises(ValidationFailed) as info:
        services.dead_letter_resubmit(
            dead_letter_id=entry.id, reason=reason, actor="ops", **kwargs
        )
    assert field in [e.field for e in info.value.errors]
    entry.refresh_from_db()
    assert entry.resolved_at is None and Job.objects.count() == 1


def test_resolve_and_discard_close_an_entry_once():
    first, second = _dead(), _dead()
    services.dead_letter_resolve(dead_letter_id=first.id, notes="handled", actor="ops")
    services.dead_letter_discard(dead_letter_id=second.id, actor="ops")
    assert DeadLetter.objects.get(id=first.id).resolution == "resolved"
    assert DeadLetter.objects.get(id=second.id).resolution == "discarded"
    with pytest.raises(Conflict, match="already resolved"):
        services.dead_letter_discard(dead_letter_id=first.id, actor="ops")
    with pytest.raises(NotFound):
        services.dead_letter_resolve(dead_letter_id=999999, notes="x", actor="ops")
    with pytest.raises(ValidationFailed):
        services.dead_letter_resolve(dead_letter_id=second.id, notes="", actor="ops")


def test_bulk_answers_each_entry_on_its_own():
    entry = _dead()
    results = services.dead_letters_bulk(
        action="resolve", ids=[entry.id, 999999], actor="ops", notes="done"
    )
    assert [r["status"] for r in results] == [200, 404]
    with pytest.raises(ValidationFailed):
        services.dead_letters_bulk(action="explode", ids=[entry.id], actor="ops")


def test_an_actors_retry_of_a_dead_job_runs_it_again_and_closes_its_entry():
    entry = _dead()
    job = services.job_retry(job_id=entry.job_id, actor="ops", reason="try again")
    assert job.state == "pending" and job.max_retries >= job.attempts
    entry.refresh_from_db()
    assert entry.resolution == "resolved" and entry.notes == "retried: try again"
    with pytest.raises(Conflict, match="only failed or dead"):
        services.job_retry(job_id=entry.job_id, actor="ops")
