"""Conductor's beat scheduler."""

from datetime import timedelta

import pytest
from celery import schedules
from django.utils import timezone

from conductor.beat import ConductorScheduler, ModelEntry
from conductor.models import Job
from conductor.services import job_type_ensure

pytestmark = pytest.mark.django_db


def test_sub_second_intervals_are_stored_in_microseconds():
    model, field = ModelEntry.to_model_schedule(
        schedules.schedule(timedelta(seconds=0.5))
    )
    assert field == "interval" and (model.every, model.period) == (
        500_000,
        "microseconds",
    )
    assert model.schedule.run_every == timedelta(seconds=0.5)  # not 0: no busy loop


def test_whole_seconds_keep_the_usual_storage():
    model, _ = ModelEntry.to_model_schedule(schedules.schedule(timedelta(seconds=5)))
    assert (model.every, model.period) == (5, "seconds")


@pytest.mark.django_db(transaction=True)  # beat closes stale connections each tick
def test_beat_runs_the_tick_itself(monkeypatch, settings):
    from conductor.celery import app

    settings.CONDUCTOR_ENGINE_TICK_S = 0.5
    rung = []
    monkeypatch.setattr("conductor.doorbell.ring", rung.append)
    job = Job.objects.create(
        job_type=job_type_ensure(name="demo.noop"),
        run_at=timezone.now() - timedelta(seconds=1),
    )
    scheduler = ConductorScheduler(app=app, lazy=True)
    wait = scheduler.tick()
    assert rung == [job.queue]  # the due job's queue got its doorbell from beat
    assert 0 <= wait <= 0.5
    rung.clear()
    scheduler.tick()  # within the same tick interval: not again
    assert rung == []


@pytest.mark.django_db(transaction=True)
def test_beat_fires_a_due_schedule_in_its_own_process_and_rearms_it(monkeypatch):
    """The schedule's PeriodicTask entry, when due, fires here (no message to a
    worker); the fire re-arms it, and the entry is never used up as a one-off."""
    import time_machine
    from django_celery_beat.models import PeriodicTask

    from conductor.celery import app
    from scheduling import services as schedules
    from scheduling.models import ScheduleRun

    sent = []
    monkeypatch.setattr(app, "send_task", lambda *a, **k: sent.append((a, k)))
    monkeypatch.setattr("conductor.doorbell.ring", lambda queue: None)
    created = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    schedule = schedules.schedule_create(
        data={"name": "minutely", "cron": "* * * * *",
              "job": {"type": "demo.noop", "payload": {}}},
        actor="test", now=created,
    )  # fmt: skip
    due = created + timedelta(minutes=1)
    with time_machine.travel(due + timedelta(seconds=0.3), tick=False):
        scheduler = ConductorScheduler(app=app, lazy=True)
        for _ in range(3):
            scheduler.tick()
    (run,) = ScheduleRun.objects.filter(schedule=schedule)
    assert run.scheduled_for == due and run.status == "running"
    assert not [s for s in sent if s[0][0] == "scheduling.schedule_fire"]
    task = PeriodicTask.objects.get(id=schedule.periodic_task_id)
    assert task.enabled and task.total_run_count == 0
    assert task.clocked.clocked_time == due + timedelta(minutes=1)
    with time_machine.travel(due + timedelta(minutes=1, seconds=0.3), tick=False):
        for _ in range(3):
            scheduler.tick()
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 2
