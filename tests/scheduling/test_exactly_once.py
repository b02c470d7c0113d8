"""Exactly one run per (schedule, fire time) and per (schedule, event), whatever fires
at the same moment: several connections firing the same schedule, two writers of the
same fire time holding their transactions open, two followers of the journal.

Each side is a thread with a database connection of its own (PostgreSQL), as two beat
processes started by mistake would be.
"""

import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection, transaction

from conductor.models import Job
from scheduling import services
from scheduling.models import RunTrigger, Schedule, ScheduleRun
from scheduling.services.firing import run_start
from tests.conductor.engine.test_dependency_races import Held, _blocked

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 6, 1, 10, 2, tzinfo=UTC)
DUE = datetime(2026, 6, 1, 10, 5, tzinfo=UTC)


def _schedule(**fields) -> Schedule:
    data = {"name": "every-5", "cron": "*/5 * * * *", "overlap_policy": "allow",
            "job": {"type": "demo.noop", "payload": {}}, **fields}  # fmt: skip
    return services.schedule_create(data=data, actor="test", now=T0)


def _together(work, count: int) -> list:
    """``work()`` in ``count`` threads at once, each on its own connection."""
    start, results, errors = threading.Barrier(count), [], []

    def run():
        try:
            start.wait(10)
            results.append(work())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return results


def test_many_beats_firing_the_same_due_time_make_one_run():
    schedule = _schedule()
    now = DUE.replace(second=1)
    with time_machine.travel(now, tick=False):
        results = _together(
            lambda: services.schedule_fire_due(schedule_id=str(schedule.id), now=now), 6
        )
    assert sorted(len(runs) for runs in results) == [0, 0, 0, 0, 0, 1]
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 1
    assert Job.objects.count() == 1


def test_many_beats_firing_their_bursts_at_once_make_one_run_per_schedule():
    schedules = [_schedule(name=f"every-5-{n}") for n in range(5)]
    now = DUE.replace(second=1)
    with time_machine.travel(now, tick=False):
        results = _together(lambda: services.schedules_fire_due(now=now), 4)
    assert sum(len(runs) for runs in results) == 5
    for schedule in schedules:
        assert ScheduleRun.objects.filter(schedule=schedule).count() == 1
    assert Job.objects.count() == 5


def test_a_second_writer_of_the_same_fire_time_waits_then_writes_nothing():
    # Past the schedule's lock (a writer that did not take it): the unique constraint
    # holds the second insert until the first commits, then refuses it.
    schedule = _schedule()

    def write():
        return run_start(schedule, scheduled_for=DUE, trigger=RunTrigger.CRON,
                         now=DUE, actor="test")  # fmt: skip

    first = Held(write)
    first.start()
    assert first.done_work.wait(10)
    second = Held(write)
    second.start()
    assert _blocked(second), "the second insert should wait for the first"
    assert first.commit() is not None
    assert second.commit() is None
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 1
    assert Job.objects.count() == 1


def test_two_followers_of_the_journal_fire_once_per_event():
    services.schedule_create(
        data={"name": "on-cancel", "event_type": "job.cancelled",
              "job": {"type": "demo.noop", "payload": {}}, "overlap_policy": "allow"},
        actor="test", now=T0,
    )  # fmt: skip
    from conductor import services as jobs

    with transaction.atomic():
        for _ in range(3):
            job, _new = jobs.job_submit(
                request=jobs.JobRequest(type="demo.sleep", payload={"seconds": 1}),
                actor="test",
            )
            jobs.job_cancel(job_id=str(job.id), reason="test", actor="test")
    results = _together(lambda: services.schedule_events_follow(now=T0), 4)
    assert sum(results) == 3
    assert ScheduleRun.objects.filter(trigger="event").count() == 3
    assert services.schedule_events_follow(now=T0) == 0
