"""Firing schedules: runs per fire time, catch-up and overlap policies, jitter, the
PeriodicTask armed at the next fire time, runs following their jobs."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_celery_beat.models import PeriodicTask

from conductor.journal import catalogue as events
from conductor.models import Event, Job
from scheduling import services
from scheduling.models import Schedule, ScheduleRun
from tests.worker import run_due_jobs

T0 = datetime(2026, 6, 1, 10, 2, tzinfo=UTC)


def at(hour: int, minute: int, second: float = 0) -> datetime:
    whole = int(second)
    micro = round((second - whole) * 1_000_000)
    return datetime(2026, 6, 1, hour, minute, whole, micro, tzinfo=UTC)


def make(now=T0, **fields) -> Schedule:
    data = {"name": "every-5", "cron": "*/5 * * * *", "timezone": "UTC",
            "job": {"type": "demo.noop", "payload": {}}, **fields}  # fmt: skip
    return services.schedule_create(data=data, actor="test", now=now)


#: How beat fires: one schedule's task (``schedule_fire_due``, the Celery task), or
#: every due schedule together (``schedules_fire_due``, Conductor's beat). Each test
#: runs both ways.
WAYS = {"one": False, "burst": True}
BURST = {"on": False}


@pytest.fixture(autouse=True, params=list(WAYS))
def way(request):
    BURST["on"] = WAYS[request.param]
    yield request.param
    BURST["on"] = False


def fire(schedule: Schedule, now: datetime) -> list[ScheduleRun]:
    with time_machine.travel(now, tick=False):
        if not BURST["on"]:
            return services.schedule_fire_due(schedule_id=str(schedule.id), now=now)
        runs = services.schedules_fire_due(now=now)
        return sorted((r for r in runs if r.schedule_id == schedule.id),
                      key=lambda r: r.scheduled_for)  # fmt: skip


def statuses(schedule: Schedule) -> list[tuple[str, str]]:
    runs = ScheduleRun.objects.filter(schedule=schedule).order_by("scheduled_for")
    return [(f"{r.scheduled_for:%H:%M}", r.status) for r in runs]


@pytest.mark.django_db
def test_a_new_schedule_arms_its_periodic_task_at_the_next_fire_time():
    schedule = make()
    assert schedule.next_execution_at == at(10, 5)
    task = PeriodicTask.objects.get(id=schedule.periodic_task_id)
    assert task.task == services.FIRE_TASK
    assert task.clocked.clocked_time == at(10, 5)
    assert task.one_off and task.enabled
    assert Event.objects.filter(type=events.SCHEDULE_CREATED.name).count() == 1


@pytest.mark.django_db
def test_a_due_fire_time_runs_once_and_rearms_the_task():
    schedule = make()
    runs = fire(schedule, at(10, 5, 0.3))
    assert [(r.scheduled_for, r.status) for r in runs] == [(at(10, 5), "running")]
    run = runs[0]
    assert Job.objects.get(id=run.job_id).job_type_id == "demo.noop"
    assert run.started_at == at(10, 5, 0.3)
    assert fire(schedule, at(10, 5, 0.5)) == []  # handled: nothing is due any more
    schedule.refresh_from_db()
    assert schedule.next_execution_at == at(10, 10)
    assert schedule.last_execution_at == at(10, 5, 0.3)
    task = PeriodicTask.objects.get(id=schedule.periodic_task_id)
    assert task.clocked.clocked_time == at(10, 10) and task.enabled
    triggered = Event.objects.get(type=events.SCHEDULE_TRIGGERED.name)
    assert triggered.data["job"] == str(run.job_id)
    assert triggered.data["scheduled_for"] == "2026-06-01T10:05:00+00:00"


@pytest.mark.django_db
def test_a_run_follows_its_job_to_success():
    schedule = make()
    (run,) = fire(schedule, at(10, 5))
    with time_machine.travel(at(10, 5, 2), tick=False):
        run_due_jobs()
        assert services.schedule_runs_settle(now=at(10, 5, 3)) == 1
    run.refresh_from_db()
    assert run.status == "success"
    assert run.completed_at == at(10, 5, 2)
    assert run.execution_time_ms == 2000
    completed = Event.objects.get(type=events.SCHEDULE_RUN_COMPLETED.name)
    assert completed.data["status"] == "success"
    assert services.schedule_runs_settle(now=at(10, 5, 4)) == 0


@pytest.mark.django_db
def test_a_run_whose_job_dies_fails_with_the_jobs_error():
    schedule = make(job={"type": "demo.flaky",
                         "payload": {"fail_rate": 1, "error_code": "VALIDATION_ERROR"}})  # fmt: skip
    (run,) = fire(schedule, at(10, 5))
    with time_machine.travel(at(10, 5, 1), tick=False):
        run_due_jobs()
        services.schedule_runs_settle(now=at(10, 5, 1))
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("VALIDATION_ERROR")


# --- catch-up after downtime ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("policy", "now", "expected"),
    [
        # 10:30 is within the minute of grace at 10:31: it is on time and runs.
        ("none", at(10, 31), [("10:05", "missed"), ("10:10", "missed"),
                              ("10:15", "missed"), ("10:20", "missed"),
                              ("10:25", "missed"), ("10:30", "running")]),
        ("none", at(10, 33), [(f"10:{m:02}", "missed") for m in range(5, 35, 5)]),
        ("latest", at(10, 33), [*[(f"10:{m:02}", "missed") for m in range(5, 30, 5)],
                                ("10:30", "running")]),
        ("all", at(10, 33), [("10:05", "missed"), ("10:10", "missed"),
                             ("10:15", "missed"), ("10:20", "running"),
                             ("10:25", "running"), ("10:30", "running")]),
    ],
)  # fmt: skip
def test_catch_up_after_beat_was_down(policy, now, expected):
    schedule = make(catchup_policy=policy, catchup_max=3, overlap_policy="allow")
    fire(schedule, now)
    assert statuses(schedule) == expected
    missed = Event.objects.get(type=events.SCHEDULE_MISSED.name)
    assert missed.data["count"] == sum(1 for _t, s in expected if s == "missed")
    schedule.refresh_from_db()
    assert schedule.next_execution_at == at(10, 35)


@pytest.mark.django_db
def test_a_long_downtime_is_counted_whole_and_recorded_in_bounded_rows():
    schedule = make(name="every-minute", cron="* * * * *", catchup_policy="none")
    fire(schedule, T0 + timedelta(days=2))  # 2,880 fire times since 10:03
    missed = Event.objects.get(type=events.SCHEDULE_MISSED.name)
    assert missed.data["count"] == 2 * 24 * 60 - 2  # the last two are on time
    assert (
        ScheduleRun.objects.filter(schedule=schedule, status="missed").count() == 1000
    )


# --- overlap -------------------------------------------------------------------------


@pytest.mark.django_db
def test_overlap_skip_records_a_skipped_run_while_the_previous_one_runs():
    schedule = make(overlap_policy="skip")
    fire(schedule, at(10, 5))
    (second,) = fire(schedule, at(10, 10))
    assert second.status == "skipped" and second.job_id is None
    assert "still running" in second.error


@pytest.mark.django_db
def test_overlap_queue_starts_after_the_previous_runs_job():
    schedule = make(overlap_policy="queue")
    (first,) = fire(schedule, at(10, 5))
    (second,) = fire(schedule, at(10, 10))
    job = Job.objects.get(id=second.job_id)
    assert job.state == "waiting"
    assert list(job.dependency_rows.values_list("depends_on_id", flat=True)) == [
        first.job_id
    ]


@pytest.mark.django_db
def test_overlap_allow_runs_side_by_side():
    schedule = make(overlap_policy="allow")
    fire(schedule, at(10, 5))
    (second,) = fire(schedule, at(10, 10))
    assert Job.objects.get(id=second.job_id).state == "pending"


@pytest.mark.django_db
def test_jitter_delays_the_job_within_the_window_and_the_same_way_each_time():
    schedule = make(jitter_s=30)
    (run,) = fire(schedule, at(10, 5))
    delay = Job.objects.get(id=run.job_id).run_at - at(10, 5)
    assert timedelta(0) <= delay < timedelta(seconds=30)
    from scheduling import policies

    assert policies.jitter(str(schedule.id), at(10, 5), 30) == delay


# --- pause, resume, trigger ----------------------------------------------------------


@pytest.mark.django_db
def test_pause_disarms_and_resume_fires_from_the_next_time_after_now():
    schedule = make()
    services.schedule_pause(schedule=schedule, actor="ops", now=at(10, 3))
    schedule.refresh_from_db()
    assert not schedule.enabled and schedule.next_execution_at is None
    assert not PeriodicTask.objects.get(id=schedule.periodic_task_id).enabled
    assert fire(schedule, at(10, 20)) == []
    services.schedule_resume(schedule=schedule, actor="ops", now=at(10, 21))
    schedule.refresh_from_db()
    assert schedule.next_execution_at == at(10, 25)  # 10:05-10:20 not caught up
    task = PeriodicTask.objects.get(id=schedule.periodic_task_id)
    assert task.enabled and task.clocked.clocked_time == at(10, 25)
    assert ScheduleRun.objects.filter(schedule=schedule).count() == 0


@pytest.mark.django_db
def test_trigger_runs_now_whatever_the_cron_says():
    schedule = make()
    with time_machine.travel(at(10, 3), tick=False):
        run = services.schedule_trigger(schedule=schedule, actor="ops", now=at(10, 3))
    assert run.trigger == "manual" and run.status == "running"
    assert run.actor == "ops"
    schedule.refresh_from_db()
    assert schedule.next_execution_at == at(10, 5)  # the cron is unchanged


@pytest.mark.django_db
def test_deleting_a_schedule_removes_its_periodic_task():
    schedule = make()
    task_id = schedule.periodic_task_id
    services.schedule_delete(schedule=schedule, actor="ops", now=at(10, 3))
    assert not PeriodicTask.objects.filter(id=task_id).exists()
    assert not Schedule.objects.exists()
    assert Event.objects.filter(type=events.SCHEDULE_DELETED.name).count() == 1


@pytest.mark.django_db
def test_a_run_whose_payload_no_longer_validates_fails_naming_why():
    schedule = make(job={"type": "demo.sleep", "payload": {"seconds": 1}})
    Schedule.objects.filter(id=schedule.id).update(payload={"seconds": "soon"})
    (run,) = fire(schedule, at(10, 5))
    assert run.status == "failed" and run.job_id is None
    assert "payload.seconds" in run.error


@pytest.mark.django_db
def test_beat_fires_what_cron_says_across_dst_in_the_schedules_zone():
    # 02:30 does not exist in New York on 8 March: it fires once, at 03:00 EDT.
    gap = make(name="gap", cron="30 2 * * *", timezone="America/New_York",
               now=datetime(2026, 3, 7, 12, tzinfo=UTC))  # fmt: skip
    assert gap.next_execution_at == datetime(2026, 3, 8, 7, tzinfo=UTC)
    (run,) = fire(gap, datetime(2026, 3, 8, 7, 0, 0, 200_000, tzinfo=UTC))
    assert run.scheduled_for == datetime(2026, 3, 8, 7, tzinfo=UTC)
    gap.refresh_from_db()
    assert gap.next_execution_at == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    # 01:30 happens twice on 1 November: it fires at the first (EDT), not again.
    overlap = make(name="overlap", cron="30 1 * * *", timezone="America/New_York",
                   now=datetime(2026, 10, 31, 12, tzinfo=UTC))  # fmt: skip
    (run,) = fire(overlap, datetime(2026, 11, 1, 5, 30, 1, tzinfo=UTC))
    assert run.scheduled_for == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    overlap.refresh_from_db()
    assert overlap.next_execution_at == datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
    assert fire(overlap, datetime(2026, 11, 1, 6, 30, 1, tzinfo=UTC)) == []
