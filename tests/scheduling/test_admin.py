"""Schedules in the admin: the cron's description beside it, add and change through
the service (validated, journalled with the operator's name, errors beside the field),
trigger / pause / resume for those with the permission; runs are read-only records."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from conductor.journal import catalogue as events
from conductor.models import Event, Job
from scheduling import services
from scheduling.models import Schedule, ScheduleRun

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 10, 2, tzinfo=UTC)

#: The add form as a browser posts it (the runs inline is empty on add).
FORM = {
    "name": "hourly-sync",
    "description": "",
    "cron": "0 * * * *",
    "timezone": "Europe/London",
    "event_type": "",
    "event_filter": "{}",
    "job_type": "demo.noop",
    "payload": "{}",
    "workflow": "",
    "priority": "",
    "enabled": "on",
    "overlap_policy": "skip",
    "catchup_policy": "latest",
    "catchup_max": "10",
    "jitter_s": "0",
    "runs-TOTAL_FORMS": "0",
    "runs-INITIAL_FORMS": "0",
    "runs-MIN_NUM_FORMS": "0",
    "runs-MAX_NUM_FORMS": "0",
}


def _url(model, view, *args):
    return reverse(f"admin:scheduling_{model}_{view}", args=args)


def _staff(client, make_user, role):
    user = make_user(username=role, role=role)
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def operator(client, make_user):
    return _staff(client, make_user, "operator")


@pytest.fixture
def viewer(client, make_user):
    return _staff(client, make_user, "viewer")


def _schedule(name="every-5", **fields) -> Schedule:
    data = {"name": name, "cron": "*/5 * * * *", "timezone": "UTC",
            "job": {"type": "demo.noop", "payload": {}}, **fields}  # fmt: skip
    return services.schedule_create(data=data, actor="test", now=T0)


def _act(client, action, rows):
    return client.post(
        _url("schedule", "changelist"),
        {"action": action, "_selected_action": [str(row.pk) for row in rows]},
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_changelist_shows_the_description_beside_the_cron(operator):
    _schedule()
    _schedule("weekdays", cron="30 9 * * mon-fri", timezone="America/New_York")
    response = operator.get(_url("schedule", "changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "*/5 * * * *" in page and "Every 5 minutes" in page
    assert "30 9 * * mon-fri" in page and "At 09:30 AM, Monday through Friday" in page
    assert response.context["cl"].result_count == 2
    enabled = operator.get(_url("schedule", "changelist"), {"timezone": "UTC"})
    assert [s.name for s in enabled.context["cl"].result_list] == ["every-5"]


def test_the_change_page_shows_the_latest_runs(operator):
    schedule = _schedule()
    runs = [
        services.schedule_trigger(schedule=schedule, actor="test", now=T0.replace(
            minute=minute))
        for minute in range(25)
    ]  # fmt: skip
    response = operator.get(_url("schedule", "change", schedule.pk))
    assert response.status_code == 200
    assert "Every 5 minutes" in response.content.decode()
    (inline,) = response.context["inline_admin_formsets"]
    shown = [form.instance.id for form in inline.formset.forms]
    assert shown == [run.id for run in reversed(runs)][:20]  # newest first


def test_add_makes_a_schedule_through_the_service(operator):
    with time_machine.travel(T0, tick=False):
        response = operator.post(_url("schedule", "add"), FORM)
    assert response.status_code == 302, response.context["errors"]
    schedule = Schedule.objects.get()
    assert (schedule.name, schedule.job_type) == ("hourly-sync", "demo.noop")
    assert schedule.created_by == "operator"
    # 11:00 BST is 10:00Z, already past at 10:02Z: the next is 12:00 BST.
    assert schedule.next_execution_at == datetime(2026, 6, 1, 11, tzinfo=UTC)
    assert PeriodicTask.objects.get(id=schedule.periodic_task_id).enabled
    created = Event.objects.get(type=events.SCHEDULE_CREATED.name)
    assert created.actor == "operator" and created.subject_id == str(schedule.id)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"cron": "0 25 * * *"}, "cron", "hour: 25 is out of range 0-23"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "not an IANA time zone"),
        ({"job_type": "no.such.type"}, "job_type", "unknown job type"),
        ({"job_type": "demo.sleep"}, "payload", "seconds: 'seconds' is a required"),
        ({"job_type": ""}, "job_type", "give a job"),
        (
            {
                "event_type": "job.dead_lettered",
                "cron": "",
                "event_filter": '{"colour": "red"}',
            },
            "event_filter",
            "colour: job.dead",
        ),
    ],
)
def test_a_refused_add_shows_the_error_and_saves_nothing(
    operator, changes, field, words
):
    response = operator.post(_url("schedule", "add"), {**FORM, **changes})
    assert response.status_code == 200  # the form again
    form = response.context["adminform"].form
    errors = form.errors.get(field, [])
    assert any(words in error for error in errors), form.errors
    assert not Schedule.objects.exists() and not PeriodicTask.objects.exists()
    assert not Event.objects.filter(subject_type="schedule").exists()


def test_change_goes_through_the_service(operator):
    schedule = _schedule()
    run = services.schedule_trigger(schedule=schedule, actor="test", now=T0)
    url = _url("schedule", "change", schedule.pk)
    form = {**FORM, "name": "every-5", "cron": "*/10 * * * *", "timezone": "UTC",
            "runs-TOTAL_FORMS": "1", "runs-INITIAL_FORMS": "1",
            "runs-0-id": str(run.id), "runs-0-schedule": str(schedule.pk)}  # fmt: skip
    with time_machine.travel(T0, tick=False):
        response = operator.post(url, form)
    assert response.status_code == 302, response.context["errors"]
    schedule.refresh_from_db()
    assert schedule.cron == "*/10 * * * *"
    assert schedule.next_execution_at == datetime(2026, 6, 1, 10, 10, tzinfo=UTC)
    updated = Event.objects.get(type=events.SCHEDULE_UPDATED.name)
    assert updated.actor == "operator" and "cron" in updated.data["changed"]

    response = operator.post(url, {**form, "cron": "0 0 31 2 *"})
    assert response.status_code == 200
    assert "never fires" in str(response.context["adminform"].form.errors["cron"])
    schedule.refresh_from_db()
    assert schedule.cron == "*/10 * * * *"


def test_an_operator_triggers_pauses_and_resumes(operator):
    first, second = _schedule("first"), _schedule("second")
    response = _act(operator, "trigger_schedules", [first, second])
    assert "Triggered 2 schedule(s)." in _messages(response)
    runs = ScheduleRun.objects.order_by("schedule__name")
    assert [(r.schedule.name, r.trigger, r.actor) for r in runs] == [
        ("first", "manual", "operator"), ("second", "manual", "operator"),
    ]  # fmt: skip
    assert Job.objects.filter(id__in=[r.job_id for r in runs]).count() == 2

    response = _act(operator, "pause_schedules", [first])
    assert "Paused 1 schedule(s)." in _messages(response)
    first.refresh_from_db()
    assert not first.enabled and first.next_execution_at is None
    assert not PeriodicTask.objects.get(id=first.periodic_task_id).enabled

    _act(operator, "resume_schedules", [first])
    first.refresh_from_db()
    assert first.enabled and first.next_execution_at is not None
    assert PeriodicTask.objects.get(id=first.periodic_task_id).enabled
    journal = Event.objects.filter(subject_id=str(first.id), actor="operator")
    assert list(journal.order_by("id").values_list("type", flat=True)) == [
        events.SCHEDULE_TRIGGERED.name, events.SCHEDULE_PAUSED.name,
        events.SCHEDULE_RESUMED.name,
    ]  # fmt: skip


def test_a_viewer_sees_schedules_but_cannot_act_on_them(viewer):
    schedule = _schedule()
    page = viewer.get(_url("schedule", "changelist"))
    assert page.status_code == 200
    for action in ("trigger_schedules", "pause_schedules", "resume_schedules"):
        assert action.encode() not in page.content  # not offered ...
        _act(viewer, action, [schedule])  # ... nor carried out
    schedule.refresh_from_db()
    assert schedule.enabled and not schedule.runs.exists()
    assert viewer.post(_url("schedule", "add"), FORM).status_code == 403
    assert Schedule.objects.count() == 1


def test_runs_are_read_only(operator, make_user, client):
    schedule = _schedule()
    run = services.schedule_trigger(schedule=schedule, actor="test", now=T0)
    listing = operator.get(_url("schedulerun", "changelist"))
    assert listing.status_code == 200 and listing.context["cl"].result_count == 1
    assert not listing.context["has_add_permission"]
    detail = operator.get(_url("schedulerun", "change", run.pk))
    assert detail.status_code == 200
    assert not detail.context["has_change_permission"]
    response = operator.post(
        _url("schedulerun", "change", run.pk), {"status": "failed"}
    )
    assert response.status_code == 403
    assert operator.post(_url("schedulerun", "delete", run.pk)).status_code == 403
    assert operator.get(_url("schedulerun", "add")).status_code == 403
    run.refresh_from_db()
    assert run.status == "running"
    # Not even an admin may change a record.
    root = make_user(username="root", superuser=True)
    client.force_login(root)
    assert client.post(_url("schedulerun", "delete", run.pk)).status_code == 403
