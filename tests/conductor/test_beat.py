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
