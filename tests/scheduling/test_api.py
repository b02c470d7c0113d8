"""Schedules through API v2: create (SPEC §14), validation naming the field, list,
detail, change, delete, trigger, pause, resume, history; scopes (PostgreSQL)."""

from datetime import UTC, datetime

import pytest
import time_machine
from django_celery_beat.models import PeriodicTask

from conductor.journal import catalogue as events
from conductor.models import Event, Job
from conductor.workflows import services as workflow_services
from scheduling.models import Schedule
from tests.conftest import JsonClient
from tests.observe import fields

pytestmark = pytest.mark.django_db

SCHEDULES = "/api/v2/schedules"
T0 = datetime(2026, 6, 1, 10, 2, tzinfo=UTC)  # a Monday
#: The body of SPEC §14.
BODY = {
    "name": "nightly-report",
    "cron": "30 2 * * mon-fri",
    "timezone": "America/New_York",
    "job": {"type": "demo.sleep", "payload": {"seconds": 1}},
    "overlap_policy": "allow",
    "catchup_policy": "none",
}


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def reader(make_key):
    client = JsonClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(scopes=['read'])}")
    return client


def _body(**changes) -> dict:
    """BODY with ``changes``; a change to None leaves the field out."""
    body = {**BODY, **changes}
    return {key: value for key, value in body.items() if value is not None}


def create(api, **changes) -> dict:
    response = api.post_json(SCHEDULES, _body(**changes))
    assert response.status_code == 201, response.json()
    return response.json()["data"]


def patch(api, ref: str, body: dict):
    return api.patch(f"{SCHEDULES}/{ref}", body, format="json")


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["success"], body["status"], body["code"]) == (False, status, code)
    return body


def event_types() -> list[str]:
    """The schedule events journalled, oldest first."""
    rows = Event.objects.filter(subject_type="schedule").order_by("id")
    return list(rows.values_list("type", flat=True))


# --- create ---------------------------------------------------------------------------


def test_create_the_spec_body(api, clock):
    response = api.post_json(SCHEDULES, BODY)
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert response["Location"] == f"{SCHEDULES}/{data['id']}"
    assert data["name"] == "nightly-report"
    assert data["cron"] == "30 2 * * mon-fri"
    assert data["cron_description"] == "At 02:30 AM, Monday through Friday"
    assert data["timezone"] == "America/New_York"
    assert data["job"] == {"type": "demo.sleep", "payload": {"seconds": 1}}
    assert data["workflow"] is None and data["event_type"] == ""
    assert (data["overlap_policy"], data["catchup_policy"]) == ("allow", "none")
    assert data["enabled"] is True and data["last_execution_at"] is None
    # 10:02Z on Monday 1 June is 06:02 in New York: the next 02:30 is Tuesday's.
    assert data["next_execution_at"] == "2026-06-02T06:30:00Z"
    assert data["periodic_task"] == "conductor.schedule:nightly-report"
    assert data["created_by"] == "api-key:test-key"

    row = Schedule.objects.get(id=data["id"])
    task = PeriodicTask.objects.get(id=row.periodic_task_id)
    assert task.enabled and task.clocked.clocked_time == row.next_execution_at
    created = Event.objects.get(type=events.SCHEDULE_CREATED.name)
    assert created.subject_id == data["id"] and created.actor == "api-key:test-key"
    assert created.data["target"] == "demo.sleep"


def test_defaults_for_what_is_left_out(api, clock):
    data = create(api, cron="@hourly", overlap_policy=None, catchup_policy=None,
                  timezone=None, job={"type": "demo.noop"})  # fmt: skip
    assert data["timezone"] == "UTC" and data["job"]["payload"] == {}
    assert (data["overlap_policy"], data["catchup_policy"]) == ("skip", "latest")
    assert (data["catchup_max"], data["jitter_s"], data["priority"]) == (10, 0, None)
    assert data["next_execution_at"] == "2026-06-01T11:00:00Z"


def test_an_event_triggered_schedule_has_no_fire_times_or_task(api):
    workflow_services.workflow_create(
        name="cleanup", definition={"nodes": [{"id": "a", "type": "demo.noop"}]},
        actor="test",
    )  # fmt: skip
    body = _body(cron=None, job=None, workflow="cleanup", overlap_policy="skip",
                 event_type="job.dead_lettered",
                 event_filter={"type": "demo.flaky"})  # fmt: skip
    response = api.post_json(SCHEDULES, body)
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    assert (data["workflow"], data["job"]) == ("cleanup", None)
    assert data["event_filter"] == {"type": "demo.flaky"}
    assert data["cron"] == "" and data["cron_description"] is None
    assert data["next_execution_at"] is None and data["periodic_task"] is None
    assert not PeriodicTask.objects.filter(name__startswith="conductor.").exists()
    preview = api.get(f"{SCHEDULES}/{data['id']}/preview").json()["data"]
    assert preview["fire_times"] == []


# Each problem is a 400 naming the field; nothing is made, nothing journalled.
# fmt: off
INVALID = [
    ({"cron": "61 * * * *"}, "cron", "minute: 61 is out of range 0-59"),
    ({"cron": "0 0 * * funday"}, "cron", "day-of-week: 'funday' is not a day name"),
    ({"cron": "0 0 L * *"}, "cron", "day-of-month: 'L' uses L"),
    ({"cron": "* * * *"}, "cron", "expected 5 fields"),
    ({"cron": "@reboot"}, "cron", "'@reboot' is not supported"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone", "not an IANA time zone"),
    ({"timezone": "localtime"}, "timezone", "not an IANA time zone"),
    ({"event_type": "job.dead_lettered"}, "cron", "exactly one"),  # both triggers
    ({"cron": None}, "cron", "exactly one"),  # neither
    ({"cron": ""}, "cron", "blank"),
    ({"workflow": "some-flow"}, "job", "exactly one"),  # both targets
    ({"job": None}, "job", "exactly one"),  # neither
    ({"job": {"type": "no.such.type"}}, "job.type", "unknown job type"),
    ({"job": {"type": "demo.sleep", "payload": {"seconds": -1}}}, "job.payload.seconds", "minimum"),
    ({"job": {"type": "demo.sleep", "payload": {}}}, "job.payload.seconds", "required"),
    ({"job": {"type": "demo.sleep", "payload": []}}, "job.payload", "must be a JSON object"),
    ({"job": {"type": "demo.noop", "colour": "red"}}, "job.colour", "unknown field"),
    ({"event_type": "job.dead_lettered", "cron": None, "event_filter": {"colour": "red"}}, "event_filter.colour", "no field 'colour'"),
    ({"event_type": "job.dead_lettered", "cron": None, "event_filter": {"type": ["a"]}}, "event_filter.type", "scalar"),
    ({"event_type": "no.such.event", "cron": None}, "event_type", "not an event type"),
    ({"catchup_max": 0}, "catchup_max", "greater than or equal to 1"),
    ({"catchup_max": 1001}, "catchup_max", "less than or equal to 1000"),
    ({"jitter_s": -1}, "jitter_s", "greater than or equal to 0"),
    ({"jitter_s": 3601}, "jitter_s", "less than or equal to 3600"),
    ({"jitter_s": "5"}, "jitter_s", "valid integer"),
    ({"overlap_policy": "sometimes"}, "overlap_policy", "valid choice"),
    ({"catchup_policy": "some"}, "catchup_policy", "valid choice"),
    ({"priority": "urgent"}, "priority", "valid choice"),
    ({"colour": "red"}, "colour", "unknown field"),
    ({"name": "bad name!"}, "name", "match"),
    ({"name": None}, "name", "required"),
]
# fmt: on


@pytest.mark.parametrize(("changes", "field", "words"), INVALID)
def test_each_problem_is_a_400_naming_the_field(api, changes, field, words):
    response = api.post_json(SCHEDULES, _body(**changes))
    problem(response, 400, "VALIDATION_ERROR")
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field in errors, errors
    assert words in errors[field]
    assert not Schedule.objects.exists() and not PeriodicTask.objects.exists()
    assert event_types() == []


def test_a_second_schedule_with_the_same_name_is_a_conflict(api):
    create(api)
    response = api.post_json(SCHEDULES, _body(cron="@daily"))
    problem(response, 409, "CONFLICT")
    assert "nightly-report" in response.json()["detail"]
    assert Schedule.objects.get().cron == "30 2 * * mon-fri"
    assert PeriodicTask.objects.count() == 1


# --- read -----------------------------------------------------------------------------


def test_list_is_paginated_by_name(api):
    for name in ("c-three", "a-one", "b-two"):
        create(api, name=name)
    first = api.get(SCHEDULES, {"page_size": 2}).json()
    assert [s["name"] for s in first["data"]] == ["a-one", "b-two"]
    pagination = first["meta"]["pagination"]
    assert pagination["has_more"] is True and pagination["page_size"] == 2
    cursor = pagination["next_cursor"]
    rest = api.get(SCHEDULES, {"page_size": 2, "cursor": cursor}).json()
    assert [s["name"] for s in rest["data"]] == ["c-three"]
    assert rest["meta"]["pagination"]["has_more"] is False


def test_detail_by_id_and_by_name(api):
    data = create(api)
    assert api.get(f"{SCHEDULES}/{data['id']}").json()["data"] == data
    assert api.get(f"{SCHEDULES}/nightly-report").json()["data"] == data


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""), ("patch", ""), ("delete", ""), ("post", "/trigger"),
        ("post", "/pause"), ("post", "/resume"), ("get", "/history"),
        ("get", "/preview"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("ref", ["0b5e3f8e-8a4f-4c1e-9d7a-2f7c1b3a9e10", "no-such"])
def test_unknown_schedules_are_404(admin_api, method, suffix, ref):
    create(admin_api)
    call = getattr(admin_api, method)
    kwargs = {"data": {"enabled": False}, "format": "json"} if method == "patch" else {}
    response = call(f"{SCHEDULES}/{ref}{suffix}", **kwargs)
    problem(response, 404, "NOT_FOUND")
    assert Schedule.objects.get().enabled is True


def test_read_scope_reads_but_does_not_write(api, reader):
    data = create(api)
    url = f"{SCHEDULES}/{data['id']}"
    for path in (SCHEDULES, url, f"{url}/history", f"{url}/preview"):
        assert reader.get(path).status_code == 200, path
    refused = [
        reader.post_json(SCHEDULES, _body(name="other")),
        reader.patch(url, {"enabled": False}, format="json"),
        reader.post(f"{url}/trigger"),
        reader.post(f"{url}/pause"),
        reader.delete(url),
    ]
    for response in refused:
        problem(response, 403, "FORBIDDEN")
    row = Schedule.objects.get()
    assert row.enabled and not row.runs.exists()
    assert event_types() == [events.SCHEDULE_CREATED.name]


@pytest.mark.parametrize(
    ("role", "trigger", "delete"),
    [("viewer", 403, 403), ("operator", 201, 403), ("admin", 201, 204)],
)
def test_session_roles(api, make_user, role, trigger, delete):
    url = f"{SCHEDULES}/{create(api)['id']}"
    client = JsonClient()
    client.force_login(make_user(username=role, role=role))
    assert client.get(url).status_code == 200
    assert client.post(f"{url}/trigger").status_code == trigger
    assert client.delete(url).status_code == delete
    assert Schedule.objects.exists() is (delete != 204)


# --- change and delete ------------------------------------------------------------------


def test_a_change_of_cron_moves_the_next_fire_time_and_the_task(api, clock):
    data = create(api)
    response = patch(api, data["id"], {"cron": "*/15 * * * *"})
    assert response.status_code == 200, response.json()
    changed = response.json()["data"]
    assert changed["cron_description"] == "Every 15 minutes"
    assert changed["next_execution_at"] == "2026-06-01T10:15:00Z"
    row = Schedule.objects.get()
    assert row.periodic_task.clocked.clocked_time == datetime(2026, 6, 1, 10, 15,
                                                              tzinfo=UTC)  # fmt: skip
    updated = Event.objects.get(type=events.SCHEDULE_UPDATED.name)
    assert updated.data["changed"] == ["cron"]


def test_a_change_that_leaves_the_timing_alone_keeps_the_next_fire_time(api, clock):
    data = create(api)
    clock.shift(3600)
    changed = patch(api, data["id"], {"description": "the report"}).json()["data"]
    assert changed["next_execution_at"] == data["next_execution_at"]
    assert changed["description"] == "the report"


def test_the_schedule_is_validated_again_as_a_whole(api):
    data = create(api)
    # The new type needs a payload the stored one does not give ...
    response = patch(api, data["id"], {"job": {"type": "demo.flaky",
                                               "payload": {"fail_rate": 2}}})  # fmt: skip
    assert fields(response) == ["job.payload.fail_rate"]
    # ... and queue cannot run a workflow.
    workflow_services.workflow_create(
        name="flow", definition={"nodes": [{"id": "a", "type": "demo.noop"}]},
        actor="test",
    )  # fmt: skip
    response = patch(api, data["id"], {"workflow": "flow", "overlap_policy": "queue"})
    assert fields(response) == ["overlap_policy"]
    response = patch(api, data["id"], {"timezone": "Nowhere/Special"})
    assert fields(response) == ["timezone"]
    response = patch(api, data["id"], {"workflow": "no-such-flow"})
    assert fields(response) == ["workflow"]
    assert api.get(f"{SCHEDULES}/{data['id']}").json()["data"] == data
    assert events.SCHEDULE_UPDATED.name not in event_types()


def test_a_new_target_or_trigger_replaces_the_other_kind(api):
    data = create(api)
    workflow_services.workflow_create(
        name="flow", definition={"nodes": [{"id": "a", "type": "demo.noop"}]},
        actor="test",
    )  # fmt: skip
    changed = patch(api, data["id"], {"workflow": "flow"}).json()["data"]
    assert (changed["workflow"], changed["job"]) == ("flow", None)
    response = patch(api, data["id"], {"event_type": "job.dead_lettered"})
    changed = response.json()["data"]
    assert (changed["cron"], changed["event_type"]) == ("", "job.dead_lettered")
    assert changed["next_execution_at"] is None and changed["periodic_task"] is None
    assert not PeriodicTask.objects.exists()


def test_rename(api):
    data = create(api)
    create(api, name="taken")
    response = patch(api, data["id"], {"name": "morning-report"})
    assert response.status_code == 200, response.json()
    assert api.get(f"{SCHEDULES}/morning-report").json()["data"]["id"] == data["id"]
    problem(api.get(f"{SCHEDULES}/nightly-report"), 404, "NOT_FOUND")
    task = Schedule.objects.get(id=data["id"]).periodic_task
    assert task.name == "conductor.schedule:morning-report"
    problem(patch(api, data["id"], {"name": "taken"}), 409, "CONFLICT")
    assert Schedule.objects.get(id=data["id"]).name == "morning-report"


def test_delete_needs_the_admin_scope(api, admin_api):
    data = create(api)
    url = f"{SCHEDULES}/{data['id']}"
    problem(api.delete(url), 403, "FORBIDDEN")
    assert Schedule.objects.exists() and PeriodicTask.objects.exists()
    response = admin_api.delete(url)
    assert response.status_code == 204
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(name__startswith="conductor.").exists()
    assert event_types()[-1] == events.SCHEDULE_DELETED.name
    problem(admin_api.get(url), 404, "NOT_FOUND")


# --- trigger, pause, resume, history -----------------------------------------------------


def test_trigger_runs_it_now_and_the_run_shows_in_the_history(api, clock):
    data = create(api)
    url = f"{SCHEDULES}/{data['id']}"
    response = api.post(f"{url}/trigger")
    assert response.status_code == 201, response.json()
    run = response.json()["data"]
    assert (run["schedule"], run["trigger"], run["status"]) == (
        "nightly-report", "manual", "running",
    )  # fmt: skip
    assert run["scheduled_for"] == run["started_at"] == "2026-06-01T10:02:00Z"
    assert run["actor"] == "api-key:test-key"
    job = Job.objects.get(id=run["job"])
    assert job.job_type_id == "demo.sleep" and job.payload == {"seconds": 1}
    assert api.get(url).json()["data"]["last_execution_at"] == "2026-06-01T10:02:00Z"
    triggered = Event.objects.get(type=events.SCHEDULE_TRIGGERED.name)
    assert triggered.data["job"] == run["job"]

    history = api.get(f"{url}/history").json()
    assert history["data"] == [run]
    assert "pagination" in history["meta"]


def test_pause_and_resume(api, clock):
    data = create(api, cron="0 * * * *", timezone="UTC")
    url = f"{SCHEDULES}/{data['id']}"
    assert data["next_execution_at"] == "2026-06-01T11:00:00Z"
    paused = api.post(f"{url}/pause").json()["data"]
    assert (paused["enabled"], paused["next_execution_at"]) == (False, None)
    assert not Schedule.objects.get().periodic_task.enabled

    clock.move_to(datetime(2026, 6, 3, 7, 30, tzinfo=UTC))
    resumed = api.post(f"{url}/resume").json()["data"]
    assert resumed["enabled"] is True
    assert resumed["next_execution_at"] == "2026-06-03T08:00:00Z"  # from now on
    task = Schedule.objects.get().periodic_task
    assert task.enabled
    assert task.clocked.clocked_time == datetime(2026, 6, 3, 8, tzinfo=UTC)
    assert event_types()[-2:] == [
        events.SCHEDULE_PAUSED.name, events.SCHEDULE_RESUMED.name,
    ]  # fmt: skip
    # Twice is harmless, and journals nothing more.
    assert api.post(f"{url}/resume").json()["data"]["enabled"] is True
    assert len(event_types()) == 3


def test_history_filters_by_status(api, clock):
    data = create(api, overlap_policy="skip")
    url = f"{SCHEDULES}/{data['id']}"
    first = api.post(f"{url}/trigger").json()["data"]
    clock.shift(60)
    second = api.post(f"{url}/trigger").json()["data"]
    assert (first["status"], second["status"]) == ("running", "skipped")
    assert second["job"] is None and "still running" in second["error"]

    every = api.get(f"{url}/history").json()["data"]
    assert [r["id"] for r in every] == [second["id"], first["id"]]  # newest first
    skipped = api.get(f"{url}/history", {"status": "skipped"}).json()["data"]
    assert [r["id"] for r in skipped] == [second["id"]]
    assert api.get(f"{url}/history", {"status": "missed"}).json()["data"] == []
    assert fields(api.get(f"{url}/history", {"status": "bogus"})) == ["status"]
    page = api.get(f"{url}/history", {"page_size": 1}).json()
    assert [r["id"] for r in page["data"]] == [second["id"]]
    cursor = page["meta"]["pagination"]["next_cursor"]
    rest = api.get(f"{url}/history", {"page_size": 1, "cursor": cursor}).json()
    assert [r["id"] for r in rest["data"]] == [first["id"]]
