"""Making and changing schedules: every problem named by its field; event-driven
schedules fire once per matching event; workflow targets."""

from datetime import UTC, datetime

import pytest
import time_machine

from conductor import services as jobs
from conductor.errors import Conflict, ValidationFailed
from conductor.journal import catalogue as events
from conductor.models import Event
from conductor.workflows import services as workflows
from scheduling import services
from scheduling.models import ScheduleRun
from tests.worker import run_due_jobs

T0 = datetime(2026, 6, 1, 10, 2, tzinfo=UTC)
JOB = {"type": "demo.noop", "payload": {}}


def create(**fields):
    data = {"name": "s1", "cron": "*/5 * * * *", "job": JOB, **fields}
    return services.schedule_create(data=data, actor="test", now=T0)


def problems(**fields) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as info:
        create(**fields)
    return {e.field: e.message for e in info.value.errors}


# --- validation -------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"cron": "0 24 * * *"}, "cron", "hour"),
        ({"cron": "* * * *"}, "cron", "5 fields"),
        ({"cron": "0 0 30 2 *"}, "cron", "never"),
        ({"timezone": "Mars/Base"}, "timezone", "IANA"),
        ({"cron": "", "event_type": ""}, "cron", "exactly one"),
        ({"event_type": "job.cancelled"}, "cron", "exactly one"),
        ({"cron": "", "event_type": "job.nothing"}, "event_type", "not an event type"),
        ({"cron": "", "event_type": "job.dead_lettered", "event_filter": {"colour": 1}},
         "event_filter.colour", "no field"),
        ({"job": None}, "job", "exactly one"),
        ({"workflow": "nightly"}, "job", "exactly one"),
        ({"job": {"type": "no.such"}}, "job.type", "unknown"),
        ({"job": {"type": "demo.sleep", "payload": {"seconds": "x"}}},
         "job.payload.seconds", "number"),
        ({"job": None, "workflow": "nightly"}, "workflow", "no workflow"),
        ({"overlap_policy": "sometimes"}, "overlap_policy", "skip"),
        ({"catchup_policy": "never"}, "catchup_policy", "latest"),
        ({"catchup_max": 0}, "catchup_max", "1 to 1000"),
        ({"jitter_s": 3601}, "jitter_s", "0 to 3600"),
        ({"priority": "urgent"}, "priority", "high"),
        ({"name": "has space"}, "name", ""),
        ({"name": "preview"}, "name", "reserved"),
        ({"cron": "", "event_type": "schedule.triggered"}, "event_type", "schedule"),
        ({"event_filter": {"type": "demo.noop"}}, "event_filter", "event_type"),
    ],
)  # fmt: skip
def test_each_problem_is_named_by_its_field(fields, field, says):
    found = problems(**fields)
    assert field in found, found
    assert says in found[field]


@pytest.mark.django_db
def test_a_second_schedule_of_the_same_name_is_a_conflict():
    create()
    with pytest.raises(Conflict):
        create()


@pytest.mark.django_db
def test_a_change_is_validated_whole_and_a_new_cron_counts_from_now():
    schedule = create()
    with pytest.raises(ValidationFailed) as info:
        services.schedule_update(schedule=schedule, data={"cron": "61 * * * *"},
                                 actor="test", now=T0)  # fmt: skip
    assert [e.field for e in info.value.errors] == ["cron"]
    changed = services.schedule_update(
        schedule=schedule, data={"cron": "0 12 * * *", "timezone": "Asia/Kathmandu"},
        actor="ops", now=T0,
    )  # fmt: skip
    # 12:00 in Kathmandu (+05:45) is 06:15 UTC: the next one after 10:02 UTC is tomorrow.
    assert changed.next_execution_at == datetime(2026, 6, 2, 6, 15, tzinfo=UTC)
    event = Event.objects.get(type=events.SCHEDULE_UPDATED.name)
    assert event.data["changed"] == ["cron", "timezone"]
    assert event.actor == "ops"


@pytest.mark.django_db
def test_a_change_of_target_only_keeps_the_next_fire_time():
    schedule = create()
    changed = services.schedule_update(
        schedule=schedule, data={"job": {"type": "demo.sleep", "payload": {"seconds": 1}}},
        actor="ops", now=datetime(2026, 6, 1, 10, 4, tzinfo=UTC),
    )  # fmt: skip
    assert changed.next_execution_at == datetime(2026, 6, 1, 10, 5, tzinfo=UTC)
    assert changed.job_type == "demo.sleep"


# --- event-driven schedules -------------------------------------------------------


def _dead(type_name: str) -> None:
    payload = {"fail_rate": 1, "error_code": "VALIDATION_ERROR"}
    if type_name == "demo.sleep":
        payload = {"seconds": -1}
    jobs.job_submit(request=jobs.JobRequest(type=type_name, payload=payload,
                                            max_retries=0), actor="test")  # fmt: skip
    run_due_jobs()


@pytest.mark.django_db(transaction=True)  # the journal reader sees commits
def test_an_event_driven_schedule_fires_once_per_matching_event():
    schedule = create(
        name="on-dead-flaky", cron="", event_type="job.dead_lettered",
        event_filter={"type": "demo.flaky"}, overlap_policy="allow",
        job={"type": "demo.noop", "payload": {}},
    )  # fmt: skip
    assert schedule.periodic_task_id is None  # the journal drives it, not beat's clock
    _dead("demo.flaky")
    _dead("demo.flaky")
    now = datetime.now(UTC)
    assert services.schedule_events_follow(now=now) == 2
    assert services.schedule_events_follow(now=now) == 0  # handled, never again
    runs = ScheduleRun.objects.filter(schedule=schedule)
    assert {r.trigger for r in runs} == {"event"}
    dead = Event.objects.filter(type=events.JOB_DEAD_LETTERED.name)
    assert sorted(r.event_id for r in runs) == sorted(e.id for e in dead)
    triggered = Event.objects.filter(type=events.SCHEDULE_TRIGGERED.name)
    assert {e.data["event"] for e in triggered} == {e.id for e in dead}


@pytest.mark.django_db(transaction=True)  # the journal reader sees commits
def test_events_before_the_schedule_existed_do_not_fire_it():
    _dead("demo.flaky")
    services.schedule_events_follow(now=datetime.now(UTC))  # no listener yet
    create(name="late", cron="", event_type="job.dead_lettered",
           job={"type": "demo.noop", "payload": {}})  # fmt: skip
    assert services.schedule_events_follow(now=datetime.now(UTC)) == 0


@pytest.mark.django_db(transaction=True)  # the journal reader sees commits
def test_a_schedules_own_runs_never_trigger_it():
    create(name="loop", cron="", event_type="job.submitted",
           job={"type": "demo.noop", "payload": {}}, overlap_policy="allow")  # fmt: skip
    jobs.job_submit(request=jobs.JobRequest(type="demo.noop", payload={}), actor="x")
    assert services.schedule_events_follow(now=datetime.now(UTC)) == 1
    # That run submitted a job (a job.submitted event) as the schedule: no loop.
    assert services.schedule_events_follow(now=datetime.now(UTC)) == 0


# --- workflow targets -------------------------------------------------------------


@pytest.mark.django_db
def test_a_workflow_target_starts_a_run_and_the_schedule_run_follows_it():
    workflows.workflow_create(
        name="nightly", actor="test",
        definition={"nodes": [{"id": "a", "type": "demo.noop"},
                              {"id": "b", "type": "demo.noop", "depends_on": ["a"]}]},
    )  # fmt: skip
    schedule = create(name="wf", job=None, workflow="nightly")
    due = datetime(2026, 6, 1, 10, 5, tzinfo=UTC)
    with time_machine.travel(due, tick=False):
        (run,) = services.schedule_fire_due(schedule_id=str(schedule.id), now=due)
    assert run.workflow_run_id is not None and run.job_id is None
    run_due_jobs()
    run_due_jobs()
    services.schedule_runs_settle(now=datetime.now(UTC))
    run.refresh_from_db()
    assert run.status == "success"
