"""End to end: schedules on a real Celery beat and worker (SPEC §4, §13).

Beat fires a schedule in its own process when the schedule's clocked PeriodicTask is
due (``conductor.beat``); the unique constraints on (schedule, fire time) and
(schedule, event) keep a fire single whatever beat does. Here with real processes on
PostgreSQL and Redis:

- a ``* * * * *`` schedule, beat stopped across its first fire time and restarted,
  then two beats at once: one run per minute, on the minute, each following its job
  to ``success`` — the restart's catch-up per policy (``latest`` and ``none`` alike
  run a fire time that is within the 60 s grace), the next minute on time from the
  re-armed task;
- an event-triggered schedule: one run per matching journal event, none for other
  job types, none again after beat restarts, with two beats following the journal.

The minute test waits for real minute boundaries (about 70 to 130 s); nothing here
shortens time.
"""

import time
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from django_celery_beat.models import PeriodicTask

from conductor.models import Event, Job
from scheduling.models import Schedule, ScheduleRun
from tests.e2e.conftest import Proc, wait_until
from tests.factories import api_job

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: A fire starts this soon after its time: a beat tick (0.2 s), the fire's
#: transaction, and slack for a loaded test machine (punctuality is measured by
#: bench/schedule_punctuality.py, not asserted here).
ON_TIME = timedelta(seconds=2)
#: Beat must have stopped this long before the fire time it is to miss.
STOP_MARGIN_S = 8
#: How long after the fire time beat comes back (inside the 60 s catch-up grace).
DOWN_AFTER_S = 5
JOB = {"type": "demo.noop", "payload": {}}


def _own_redis() -> str:
    """This run's Redis database for worker and beat, so that another run's worker on
    the shared test Redis cannot take their messages (as in test_recovery_e2e)."""
    base = urlsplit(settings.REDIS_URL or "redis://127.0.0.1:6379/15")
    name = connection.settings_dict["NAME"].encode()
    return urlunsplit(base._replace(path=f"/{10 + zlib.crc32(name) % 5}"))


@pytest.fixture
def env() -> dict:
    return {"REDIS_URL": _own_redis()}


def _create(api, **body) -> str:
    response = api.post_json("/api/v2/schedules", body)
    assert response.status_code == 201, response.content
    return response.json()["data"]["id"]


def _runs(schedule_id: str) -> list[ScheduleRun]:
    return list(
        ScheduleRun.objects.filter(schedule_id=schedule_id).order_by(
            "scheduled_for", "id"
        )
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _sleep_until(when: datetime) -> None:
    time.sleep(max(0.0, (when - _now()).total_seconds()))


def _next_minute(after: datetime) -> datetime:
    return after.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _quiet(*beats: Proc) -> None:
    """No beat logged a failed chore or a traceback."""
    for beat in beats:
        log = beat.output()
        assert "Traceback" not in log and "failed; trying again" not in log, log[-3000:]


def _fired(schedule_id: str, at: datetime) -> list[ScheduleRun]:
    """The runs of this fire time, once there is one."""

    def runs():
        return [r for r in _runs(schedule_id) if r.scheduled_for == at]

    return wait_until(runs, timeout=20)


def _settled(ids: list[str]) -> None:
    """Every run of these schedules ended; each must have succeeded with its job."""
    wait_until(
        lambda: (
            not ScheduleRun.objects.filter(
                schedule_id__in=ids, status="running"
            ).exists()
        ),
        timeout=30,
    )
    for run in ScheduleRun.objects.filter(schedule_id__in=ids).select_related("job"):
        assert run.status == "success", (run, run.status, run.error)
        assert run.job.state == "succeeded" and run.job.job_type_id == "demo.noop"
        assert run.completed_at >= run.started_at
        assert run.execution_time_ms is not None


def test_a_minute_schedule_fires_once_per_minute_across_a_restart_and_two_beats(
    start_worker, start_beat, api, env
):
    start_worker(**env)
    first_beat = start_beat(**env)
    now = _now()
    if (_next_minute(now) - now).total_seconds() < STOP_MARGIN_S:
        _sleep_until(_next_minute(now) + timedelta(seconds=0.2))
    created = _now()
    ids = {
        policy: _create(api, name=f"every-minute-{policy}", cron="* * * * *",
                        timezone="UTC", job=JOB, catchup_policy=policy)
        for policy in ("latest", "none")
    }  # fmt: skip
    due = _next_minute(created)
    assert {s.next_execution_at for s in Schedule.objects.all()} == {due}
    time.sleep(1)  # beat looks for changes every tick: it has read them
    first_beat.stop()
    assert _now() < due - timedelta(seconds=1), "beat must be down at the fire time"

    # Beat is down across the fire time: nothing fires.
    _sleep_until(due + timedelta(seconds=DOWN_AFTER_S))
    assert not ScheduleRun.objects.filter(schedule_id__in=ids.values()).exists()
    restarted = _now()
    beats = [start_beat(**env), start_beat(**env)]  # two beats, by mistake

    # Back within the grace: latest and none both run the missed fire time, once.
    for schedule_id in ids.values():
        [run] = _fired(schedule_id, due)
        assert run.trigger == "cron" and run.job_id is not None
        assert restarted <= run.started_at <= restarted + ON_TIME + ON_TIME

    # The next minute: the re-armed task fires on time, once, with two beats running.
    following = due + timedelta(minutes=1)
    for schedule in Schedule.objects.filter(id__in=ids.values()):
        assert schedule.next_execution_at == following
        task = PeriodicTask.objects.select_related("clocked").get(
            id=schedule.periodic_task_id
        )
        assert task.clocked.clocked_time == following
        assert task.enabled and task.one_off and task.total_run_count == 0
    _sleep_until(following)
    for schedule_id in ids.values():
        [run] = _fired(schedule_id, following)
        assert following <= run.started_at <= following + ON_TIME, run.started_at
    time.sleep(2)  # a second beat that fired late would show by now

    for schedule_id in ids.values():
        runs = _runs(schedule_id)
        assert [r.scheduled_for for r in runs] == [due, following]
    _settled(list(ids.values()))
    assert not Event.objects.filter(type="schedule.missed").exists()
    triggered = Event.objects.filter(type="schedule.triggered")
    assert triggered.count() == 4
    history = api.get(f"/api/v2/schedules/{ids['none']}/history").json()["data"]
    assert [(h["scheduled_for"], h["status"]) for h in history] == [
        (following.isoformat().replace("+00:00", "Z"), "success"),
        (due.isoformat().replace("+00:00", "Z"), "success"),
    ]
    _quiet(first_beat, *beats)


def _dead_letter(api, job_type: str) -> str:
    payload = {"fail_rate": 1} if job_type == "demo.flaky" else {"seconds": 3}
    job_id = api_job(api, type=job_type, payload=payload, max_retries=0, timeout_s=1)
    return job_id


def _dead_lettered(job_ids: list[str]) -> list[Event]:
    """The ``job.dead_lettered`` events of these jobs, once each has one."""

    def found():
        events = Event.objects.filter(type="job.dead_lettered", subject_id__in=job_ids)
        return list(events) if events.count() == len(job_ids) else None

    return wait_until(found, timeout=30)


def test_an_event_triggered_schedule_fires_once_per_matching_event(
    start_worker, start_beat, api, env
):
    start_worker(**env)
    beats = [start_beat(**env), start_beat(**env)]  # two beats follow the journal
    schedule_id = _create(
        api, name="on-flaky-dead-letter", event_type="job.dead_lettered",
        event_filter={"type": "demo.flaky"}, job=JOB, overlap_policy="allow",
    )  # fmt: skip
    flaky = [_dead_letter(api, "demo.flaky") for _ in range(2)]
    other = _dead_letter(api, "demo.sleep")  # dead-lettered too, by its timeout
    events = _dead_lettered([*flaky, other])
    matching = sorted(e.id for e in events if e.subject_id in flaky)

    wait_until(lambda: len(_runs(schedule_id)) == 2, timeout=15)
    time.sleep(2.5)  # two more follows by each beat: nothing more fires
    runs = _runs(schedule_id)
    assert sorted(r.event_id for r in runs) == matching
    assert {r.trigger for r in runs} == {"event"}
    _settled([schedule_id])

    for beat in beats:
        beat.stop()
    restarted = [start_beat(**env), start_beat(**env)]
    time.sleep(3)  # the restarted beats follow the journal from the stored cursor
    assert sorted(r.event_id for r in _runs(schedule_id)) == matching

    later = _dead_letter(api, "demo.flaky")
    [event] = _dead_lettered([later])
    wait_until(lambda: len(_runs(schedule_id)) == 3, timeout=15)
    time.sleep(2)
    assert sorted(r.event_id for r in _runs(schedule_id)) == [*matching, event.id]
    _settled([schedule_id])
    jobs = Job.objects.filter(
        id__in=[r.job_id for r in _runs(schedule_id)], job_type_id="demo.noop"
    )
    assert jobs.count() == 3
    _quiet(*beats, *restarted)
