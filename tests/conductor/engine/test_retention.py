"""Retention: old finished jobs and old events are pruned in bounded batches; what is
still needed (an open dead letter, a job something waits for) stays."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from conductor.engine import retention
from conductor.journal.catalogue import JOB_PROGRESS
from conductor.journal.writer import event_record
from conductor.models import Event, Job, RetryAttempt
from recovery.models import DeadLetter
from recovery.services import dead_letter_resolve
from tests.factories import DOOMED, JobFactory
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_ago():
    """Forty days back, then back to now."""
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        yield


def _ran(**fields) -> Job:
    job = JobFactory(**fields)
    run_due_jobs()
    return Job.objects.get(id=job.id)


def test_old_finished_jobs_go_with_their_attempts_recent_ones_stay(settings):
    settings.CONDUCTOR_RETENTION_JOBS_DAYS = 30
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        old = _ran()
    recent = _ran()
    pending = JobFactory()
    counts = retention.prune(now=timezone.now())
    assert counts["jobs"] == 1
    assert not Job.objects.filter(id=old.id).exists()
    assert not RetryAttempt.objects.filter(job_id=old.id).exists()
    assert Job.objects.filter(id__in=[recent.id, pending.id]).count() == 2
    assert Event.objects.get(type="engine.pruned").data["jobs"] == 1


def test_a_dead_job_stays_while_its_dead_letter_does(settings):
    settings.CONDUCTOR_RETENTION_JOBS_DAYS = 30
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        dead = _ran(type="demo.flaky", payload=DOOMED)
    assert dead.state == "dead"
    assert retention.prune(now=timezone.now())["jobs"] == 0  # its entry is open
    entry = DeadLetter.objects.get(job=dead)
    dead_letter_resolve(dead_letter_id=entry.id, notes="handled", actor="ops")
    assert retention.prune(now=timezone.now())["jobs"] == 0  # the entry is kept
    entry.delete()  # the DLQ's own cleanup, once its retention passed
    assert retention.prune(now=timezone.now())["jobs"] == 1


def test_a_finished_job_something_waits_for_stays(settings):
    settings.CONDUCTOR_RETENTION_JOBS_DAYS = 30
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        done = _ran()
        later = JobFactory(run_at=timezone.now() + timedelta(days=100))
        waiting = JobFactory(depends_on=[str(done.id), str(later.id)])
    assert waiting.state == "waiting"
    assert retention.prune(now=timezone.now())["jobs"] == 0
    assert Job.objects.get(id=waiting.id).state == "waiting"  # not released by it


def test_old_events_go(settings):
    settings.CONDUCTOR_RETENTION_EVENTS_DAYS = 7
    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        old = JobFactory()
    fresh = JobFactory()
    cutoff = timezone.now() - timedelta(days=7)
    old_events = Event.objects.filter(created_at__lt=cutoff).count()
    assert old_events >= 1
    assert retention.prune(now=timezone.now())["events"] == old_events
    assert not Event.objects.filter(created_at__lt=cutoff).exists()
    assert not Event.objects.filter(subject_id=str(old.id)).exists()
    assert Event.objects.filter(subject_id=str(fresh.id)).exists()


def test_progress_events_keep_the_latest_of_each_job_and_second():
    job = JobFactory()
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    reports = [(0.0, 10), (0.25, 20), (0.75, 30), (1.5, 40), (1.9, 50)]
    with transaction.atomic():
        for offset, pct in reports:
            event_record(
                type=JOB_PROGRESS, subject=("job", str(job.id)),
                at=start + timedelta(seconds=offset),
                data={"pct": pct, "stage": "", "message": "", "eta_s": None},
            )  # fmt: skip
    assert retention.prune(now=timezone.now())["progress_events"] == 3
    kept = Event.objects.filter(type="job.progress").order_by("id")
    assert [e.data["pct"] for e in kept] == [30, 50]


def test_pruning_goes_in_bounded_batches(settings, monkeypatch):
    settings.CONDUCTOR_RETENTION_EVENTS_DAYS = 7
    monkeypatch.setattr(retention, "BATCH", 2)
    monkeypatch.setattr(retention, "MAX_BATCHES", 2)
    with time_machine.travel(timezone.now() - timedelta(days=8), tick=False):
        JobFactory.create_batch(7)  # seven job.submitted events, and more
    old = Event.objects.filter(created_at__lt=timezone.now() - timedelta(days=7))
    total = old.count()
    assert total >= 7
    assert retention.prune(now=timezone.now())["events"] == 4  # two batches of two
    assert old.count() == total - 4  # the rest waits for the next run


def test_old_schedule_runs_go_a_running_one_and_recent_ones_stay(settings):
    from scheduling import services as schedules
    from scheduling.models import ScheduleRun

    settings.CONDUCTOR_RETENTION_JOBS_DAYS = 30
    then = timezone.now() - timedelta(days=40)
    schedule = schedules.schedule_create(
        data={"name": "hourly", "cron": "@hourly", "overlap_policy": "allow",
              "job": {"type": "demo.noop", "payload": {}}},
        actor="test", now=then,
    )  # fmt: skip
    with time_machine.travel(then, tick=False):
        ended = schedules.schedule_trigger(schedule=schedule, actor="t", now=then)
        still = schedules.schedule_trigger(schedule=schedule, actor="t", now=then)
        run_due_jobs()
    ScheduleRun.objects.filter(id=ended.id).update(status="success")
    recent = schedules.schedule_trigger(
        schedule=schedule, actor="t", now=timezone.now()
    )
    assert retention.prune(now=timezone.now())["schedule_runs"] == 1
    left = set(ScheduleRun.objects.values_list("id", flat=True))
    assert left == {still.id, recent.id}
