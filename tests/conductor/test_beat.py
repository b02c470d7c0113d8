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


@pytest.mark.django_db(transaction=True)
def test_schedules_due_together_all_fire_before_beat_reloads_its_entries(
    monkeypatch,
):
    """Each fire re-arms its task, which marks beat's schedule changed; beat reloads
    its entries (all of them) once after the burst, not after every fire."""
    import time_machine

    from conductor.celery import app
    from scheduling import services as schedules
    from scheduling.models import ScheduleRun

    monkeypatch.setattr("conductor.doorbell.ring", lambda queue: None)
    created = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    for n in range(5):
        schedules.schedule_create(
            data={"name": f"minutely-{n}", "cron": "* * * * *",
                  "job": {"type": "demo.noop", "payload": {}}},
            actor="test", now=created,
        )  # fmt: skip
    reloads = []
    reload = ConductorScheduler.all_as_schedule
    monkeypatch.setattr(
        ConductorScheduler,
        "all_as_schedule",
        lambda self: reloads.append(1) or reload(self),
    )
    due = created + timedelta(minutes=1)
    with time_machine.travel(due + timedelta(seconds=0.3), tick=False):
        scheduler = ConductorScheduler(app=app, lazy=True)
        for _ in range(5):
            scheduler.tick()
        assert ScheduleRun.objects.filter(scheduled_for=due).count() == 5
        assert len(reloads) == 1  # the first read; none between the fires
        scheduler.tick()
        assert len(reloads) == 2  # the burst is over: the re-armed entries
    fires = [e for e in scheduler.schedule.values() if e.task == schedules.FIRE_TASK]
    assert {e.schedule.clocked_time for e in fires} == {due + timedelta(minutes=1)}


@pytest.mark.django_db(transaction=True)
def test_a_schedule_made_while_beat_starts_is_seen_at_its_next_tick(monkeypatch):
    from conductor.celery import app
    from scheduling import services as schedules

    monkeypatch.setattr("conductor.doorbell.ring", lambda queue: None)
    scheduler = ConductorScheduler(app=app, lazy=True)
    scheduler.tick()  # the first read of the entries
    schedule = schedules.schedule_create(
        data={"name": "made-meanwhile", "cron": "* * * * *",
              "job": {"type": "demo.noop", "payload": {}}},
        actor="test", now=timezone.now(),
    )  # fmt: skip
    scheduler.tick()
    assert f"conductor.schedule:{schedule.name}" in scheduler.schedule


@pytest.mark.django_db(transaction=True)
def test_beat_writing_a_fired_entry_back_keeps_a_resume_made_meanwhile(monkeypatch):
    """Beat writes its entries back (their last run) on each reload; a schedule
    resumed between beat's read of the task and its write stays enabled."""
    from django_celery_beat.models import PeriodicTask

    from scheduling import services as schedules

    now = timezone.now()
    schedule = schedules.schedule_create(
        data={"name": "resumed", "cron": "* * * * *", "enabled": False,
              "job": {"type": "demo.noop", "payload": {}}},
        actor="test", now=now,
    )  # fmt: skip
    entry = next(
        ModelEntry(PeriodicTask.objects.get(name="conductor.schedule:resumed"))
    )
    read_before = PeriodicTask.objects.get(id=schedule.periodic_task_id)  # disabled
    schedules.schedule_resume(schedule=schedule, actor="test", now=now)
    with monkeypatch.context() as m:  # beat's read came before the resume
        m.setattr(
            type(PeriodicTask._default_manager), "get", lambda *a, **k: read_before
        )
        entry.save()
    task = PeriodicTask.objects.get(id=schedule.periodic_task_id)
    assert task.enabled and task.last_run_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_fire_that_failed_is_tried_again_a_second_later(monkeypatch):
    """A fire that fails (the database restarting) could not re-arm its task, so
    no change brings its entry back: beat tries it again itself."""
    import time_machine
    from django.db import OperationalError

    from conductor import beat
    from conductor.celery import app
    from scheduling import services as schedules
    from scheduling.models import ScheduleRun

    monkeypatch.setattr("conductor.doorbell.ring", lambda queue: None)
    created = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    schedule = schedules.schedule_create(
        data={"name": "minutely", "cron": "* * * * *",
              "job": {"type": "demo.noop", "payload": {}}},
        actor="test", now=created,
    )  # fmt: skip
    fire = schedules.schedules_fire_due
    failures = []

    def fire_once_failing(**kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("the database system is shutting down")
        return fire(**kwargs)

    monkeypatch.setattr(schedules, "schedules_fire_due", fire_once_failing)
    due = created + timedelta(minutes=1)
    with time_machine.travel(due + timedelta(seconds=0.3), tick=False) as clock:
        scheduler = ConductorScheduler(app=app, lazy=True)
        for _ in range(3):
            scheduler.tick()
        assert failures and not ScheduleRun.objects.filter(schedule=schedule)
        clock.shift(beat.REFIRE_S)
        for _ in range(3):
            scheduler.tick()
    (run,) = ScheduleRun.objects.filter(schedule=schedule)
    assert run.scheduled_for == due


@pytest.mark.django_db(transaction=True)
def test_the_schedules_due_at_one_time_fire_together(monkeypatch):
    """One entry's fire takes every schedule due with it, in one transaction with
    one change mark; the other entries of the burst find nothing left to do."""
    from django_celery_beat.models import PeriodicTasks

    from scheduling import services as schedules
    from scheduling.models import ScheduleRun

    monkeypatch.setattr("conductor.doorbell.ring", lambda queue: None)
    created = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=5)
    for n in range(20):
        schedules.schedule_create(
            data={"name": f"s{n}", "cron": "*/10 * * * *" if n else "0 0 1 1 *",
                  "job": {"type": "demo.noop", "payload": {}}},
            actor="test", now=created,
        )  # fmt: skip
    marks = []
    monkeypatch.setattr(PeriodicTasks, "update_changed", lambda: marks.append(1))
    now = created + timedelta(minutes=10)
    runs = schedules.schedules_fire_due(now=now)
    assert len(runs) == 19  # every */10 schedule; the yearly one is not due
    assert len(marks) == 1
    assert ScheduleRun.objects.count() == 19
    assert schedules.schedules_fire_due(now=now) == []
