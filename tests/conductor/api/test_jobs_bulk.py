"""Bulk submit, synchronous execute and list filters of API v2 (PostgreSQL)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from conductor.models import Event, Job
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import api_job
from tests.observe import fields
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"
BULK = "/api/v2/jobs/bulk"
EXECUTE = "/api/v2/jobs/execute"


# --- bulk -----------------------------------------------------------------------------


def test_bulk_creates_every_job_in_order_with_one_event_each(api):
    jobs = [{"type": "test.echo", "payload": {"n": n}} for n in range(5)]
    jobs[2] = {"type": "demo.sleep", "payload": {"seconds": 0}, "priority": "high"}
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["created"] == 5 and data["replayed"] == 0
    ids = data["ids"]
    assert len(ids) == len(set(ids)) == 5
    rows = {str(job.id): job for job in Job.objects.all()}
    assert set(rows) == set(ids)
    assert [rows[i].payload for i in ids] == [
        {"n": 0},
        {"n": 1},
        {"seconds": 0},
        {"n": 3},
        {"n": 4},
    ]
    assert rows[ids[2]].job_type_id == "demo.sleep"
    assert rows[ids[2]].get_priority_display() == "high"
    assert {rows[i].state for i in ids} == {"pending"}
    submitted = Event.objects.filter(type="job.submitted")
    assert sorted(submitted.values_list("subject_id", flat=True)) == sorted(ids)
    assert set(submitted.values_list("actor", flat=True)) == {"api-key:test-key"}


def test_bulk_submitted_events_describe_each_job(api):
    first = api_job(api, type="test.echo", run_at="2999-01-01T00:00:00Z")
    jobs = [
        {"type": "test.echo", "priority": "critical"},
        {"type": "test.echo", "depends_on": [first]},
    ]
    ids = api.post_json(BULK, {"jobs": jobs}).json()["data"]["ids"]
    data = [Event.objects.get(type="job.submitted", subject_id=i).data for i in ids]
    assert data[0]["type"] == "test.echo" and data[0]["priority"] == "critical"
    assert data[0]["state"] == "pending" and data[0]["queue"] == "default"
    assert data[1]["state"] == "waiting" and data[1]["priority"] == "normal"


PAYLOAD = {
    "text": 'naïve ☃ 😀 \u00e9 \\ "quoted"',
    "nested": {"list": [1, 2.5, None, True, "x", {"deep": [[]]}]},
    "big": 2**70,
    "small": -0.001,
    "empty": {},
    "n": 0,
    "id": "not-the-job-id",
}


def test_payloads_are_stored_exactly_as_sent(api):
    single = api_job(api, type="test.echo", payload=PAYLOAD)
    [bulk] = api.post_json(
        BULK, {"jobs": [{"type": "test.echo", "payload": PAYLOAD}]}
    ).json()["data"]["ids"]
    for job_id in (single, bulk):
        assert Job.objects.get(id=job_id).payload == PAYLOAD
        assert api.get(f"{JOBS}/{job_id}").json()["data"]["payload"] == PAYLOAD
    run_due_jobs()
    assert Job.objects.get(id=bulk).result == PAYLOAD


def test_bulk_names_every_bad_item_and_writes_nothing(api):
    jobs = [{"type": "test.echo"} for _ in range(6)]
    jobs[1] = {"type": "no.such.type"}
    jobs[3] = {"type": "demo.sleep", "payload": {}}
    jobs[5] = {"type": "demo.sleep", "payload": {"seconds": "soon"}}
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert fields(response) == [
        "jobs[1].type",
        "jobs[3].payload.seconds",
        "jobs[5].payload.seconds",
    ]
    assert Job.objects.count() == 0
    assert not Event.objects.filter(type="job.submitted").exists()


def test_bulk_names_bad_fields_of_items(api):
    jobs = [{"type": "test.echo"} for _ in range(3)]
    jobs[0] = {"type": "test.echo", "priority": "urgent", "colour": "red"}
    jobs[2] = {"type": "test.echo", "max_retries": 99, "run_at": "soon"}
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 400
    assert sorted(fields(response)) == [
        "jobs[0].colour",
        "jobs[0].priority",
        "jobs[2].max_retries",
        "jobs[2].run_at",
    ]
    assert Job.objects.count() == 0


def test_bulk_names_field_and_payload_errors_in_one_answer(api):
    jobs = [{"type": "test.echo"} for _ in range(5)]
    jobs[1] = {"type": "no.such.type"}
    jobs[3] = {"type": "demo.sleep", "payload": {}}
    jobs[4] = {"type": "test.echo", "colour": "red"}
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 400
    assert sorted(fields(response)) == [
        "jobs[1].type",
        "jobs[3].payload.seconds",
        "jobs[4].colour",
    ]


def test_bulk_schema_errors_are_named_even_when_the_other_fields_are_fine(api):
    jobs = [{"type": "demo.sleep", "payload": {"seconds": 1}} for _ in range(4)]
    jobs[3]["payload"] = {"seconds": -5}
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 400
    assert fields(response) == ["jobs[3].payload.seconds"]
    assert Job.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"jobs": []},
        {"jobs": {"type": "test.echo"}},
        {"jobs": "test.echo"},
        {},
        [{"type": "test.echo"}],
    ],
    ids=["empty", "object", "string", "missing", "bare-list"],
)
def test_bulk_needs_a_non_empty_list_of_jobs(api, body):
    response = api.post_json(BULK, body)
    assert response.status_code == 400
    assert fields(response) == ["jobs"]
    assert Job.objects.count() == 0


def test_bulk_refuses_more_than_the_limit(api, settings):
    settings.CONDUCTOR_JOBS_BULK_MAX = 3
    too_many = api.post_json(BULK, {"jobs": [{"type": "test.echo"}] * 4})
    assert too_many.status_code == 400
    assert fields(too_many) == ["jobs"]
    assert "3" in too_many.json()["errors"][0]["message"]
    assert Job.objects.count() == 0
    at_limit = api.post_json(BULK, {"jobs": [{"type": "test.echo"}] * 3})
    assert at_limit.status_code == 201
    assert Job.objects.count() == 3


def test_bulk_item_that_is_not_an_object_is_named(api):
    response = api.post_json(BULK, {"jobs": [{"type": "test.echo"}, "test.echo"]})
    assert response.status_code == 400
    assert fields(response) == ["jobs[1]"]


def test_duplicate_idempotency_keys_in_one_bulk_make_one_job(api):
    jobs = [
        {"type": "test.echo", "idempotency_key": "k-1", "payload": {"n": 1}},
        {"type": "test.echo", "payload": {"n": 2}},
        {"type": "test.echo", "idempotency_key": "k-1", "payload": {"n": 3}},
    ]
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["ids"][0] == data["ids"][2] != data["ids"][1]
    assert data["created"] == 2 and data["replayed"] == 1
    assert Job.objects.count() == 2
    assert Job.objects.get(idempotency_key="k-1").payload == {"n": 1}
    assert Event.objects.filter(type="job.submitted").count() == 2


def test_bulk_replays_keys_used_by_an_earlierapi_job(api):
    earlier = api_job(api, type="test.echo", idempotency_key="order-9")
    jobs = [
        {"type": "test.echo", "idempotency_key": "order-9"},
        {"type": "test.echo", "idempotency_key": "order-10"},
    ]
    data = api.post_json(BULK, {"jobs": jobs}).json()["data"]
    assert data["ids"][0] == earlier
    assert data["created"] == 1 and data["replayed"] == 1
    again = api.post_json(BULK, {"jobs": jobs}).json()["data"]
    assert again["ids"] == data["ids"]
    assert again["created"] == 0 and again["replayed"] == 2
    assert Job.objects.count() == 2


def test_bulk_with_dependencies_on_existing_jobs_waits(api):
    first = api_job(api, type="test.echo", payload={"step": 1})
    jobs = [
        {"type": "test.echo", "depends_on": [first]},
        {"type": "test.echo", "depends_on": {"jobs": [first], "mode": "any"}},
        {"type": "test.echo"},
    ]
    ids = api.post_json(BULK, {"jobs": jobs}).json()["data"]["ids"]
    states = [Job.objects.get(id=i).state for i in ids]
    assert states == ["waiting", "waiting", "pending"]
    run_due_jobs()
    assert {Job.objects.get(id=i).state for i in ids} == {"succeeded"}


def test_bulk_dependency_on_an_unknown_job_is_named(api):
    jobs = [
        {"type": "test.echo"},
        {"type": "test.echo", "depends_on": ["00000000-0000-0000-0000-000000000001"]},
    ]
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 400
    assert fields(response) == ["jobs[1].depends_on[0]"]
    assert Job.objects.count() == 0


def test_a_thousand_job_bulk(api):
    jobs = [{"type": "test.echo", "payload": {"n": n}} for n in range(1000)]
    response = api.post_json(BULK, {"jobs": jobs})
    assert response.status_code == 201
    ids = response.json()["data"]["ids"]
    assert len(set(ids)) == 1000
    assert Job.objects.count() == 1000
    by_id = dict(Job.objects.values_list("id", "payload"))
    assert all(by_id[_uuid(i)] == {"n": n} for n, i in enumerate(ids))
    assert Event.objects.filter(type="job.submitted").count() == 1000


def _uuid(value):
    import uuid

    return uuid.UUID(value)


# --- execute --------------------------------------------------------------------------


def test_execute_without_waiting_answers_202_with_the_pending_job(api):
    response = api.post_json(
        EXECUTE, {"type": "test.echo", "payload": {"a": 1}, "wait_s": 0}
    )
    assert response.status_code == 202
    data = response.json()["data"]
    assert data["state"] == "pending" and data["result"] is None
    assert response["Location"] == f"{JOBS}/{data['id']}"
    assert Job.objects.get(id=data["id"]).state == "pending"


@pytest.mark.django_db(transaction=True)
def test_execute_waits_for_a_worker_and_returns_the_result(api):
    stop = threading.Event()

    def worker():
        try:
            while not stop.is_set():
                if not run_due_jobs():
                    time.sleep(0.02)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        response = api.post_json(
            EXECUTE,
            {"type": "test.echo", "payload": {"order": 17, "ok": True}, "wait_s": 20},
        )
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["state"] == "succeeded"
    assert data["result"] == {"order": 17, "ok": True}
    assert Job.objects.get(id=data["id"]).state == "succeeded"


def test_execute_times_out_with_202(api):
    started = time.monotonic()
    response = api.post_json(
        EXECUTE,
        {"type": "test.echo", "wait_s": 0.3, "run_at": "2999-01-01T00:00:00Z"},
    )
    assert response.status_code == 202
    assert 0.25 <= time.monotonic() - started < 5
    assert response.json()["data"]["state"] == "pending"


@pytest.mark.parametrize("wait_s", [61, 10_000, -1, "5", True, None])
def test_execute_refuses_a_bad_wait(api, wait_s):
    response = api.post_json(EXECUTE, {"type": "test.echo", "wait_s": wait_s})
    assert response.status_code == 400
    assert fields(response) == ["wait_s"]
    assert Job.objects.count() == 0


def test_execute_wait_limit_follows_the_setting(api, settings):
    settings.CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S = 2
    response = api.post_json(EXECUTE, {"type": "test.echo", "wait_s": 3})
    assert response.status_code == 400 and fields(response) == ["wait_s"]


def test_execute_refuses_unknownfields(api):
    response = api.post_json(EXECUTE, {"type": "test.echo", "wait_s": 0, "timeout": 5})
    assert response.status_code == 400
    assert fields(response) == ["timeout"]
    assert Job.objects.count() == 0


# --- list filters ---------------------------------------------------------------------


def _listed(api, **params):
    response = api.get(JOBS, params)
    assert response.status_code == 200, response.json()
    return {job["id"] for job in response.json()["data"]}


def test_filter_by_type_state_and_priority(api):
    echo_high = api_job(api, type="test.echo", priority="high")
    echo_low = api_job(api, type="test.echo", priority="low")
    noop = api_job(api, type="demo.noop", priority="high")
    failing = api_job(api, type="test.fail", run_at="2999-01-01T00:00:00Z")
    run_due_jobs()
    assert _listed(api, type="test.echo") == {echo_high, echo_low}
    assert _listed(api, type="test.echo,demo.noop") == {echo_high, echo_low, noop}
    assert _listed(api, state="pending") == {failing}
    assert _listed(api, state="succeeded,failed") == {echo_high, echo_low, noop}
    assert _listed(api, priority="high") == {echo_high, noop}
    assert _listed(api, priority="high", type="test.echo") == {echo_high}
    assert _listed(api, priority="low,normal") == {echo_low, failing}


def test_filter_by_creation_time(api):
    now = timezone.now()
    old, middle, new = (api_job(api, type="test.echo") for _ in range(3))
    for job_id, days in ((old, 10), (middle, 5), (new, 0)):
        Job.objects.filter(id=job_id).update(created_at=now - timedelta(days=days))
    after = (now - timedelta(days=7)).isoformat()
    before = (now - timedelta(days=1)).isoformat()
    assert _listed(api, created_after=after) == {middle, new}
    assert _listed(api, created_before=before) == {old, middle}
    assert _listed(api, created_after=after, created_before=before) == {middle}


def test_filter_by_a_json_path_in_the_payload(api):
    ann = api_job(
        api, type="test.echo", payload={"customer": {"id": 42, "name": "ann"}}
    )
    api_job(api, type="test.echo", payload={"customer": {"id": 7, "name": "bob"}})
    text = api_job(api, type="test.echo", payload={"customer": {"id": "42"}})
    api_job(api, type="test.echo", payload={"other": True})
    assert _listed(api, **{"payload.customer.id": "42"}) == {ann}  # read as JSON
    assert _listed(api, **{"payload.customer.id": '"42"'}) == {text}
    assert _listed(api, **{"payload.customer.name": "ann"}) == {ann}  # read as text
    assert _listed(api, **{"payload.customer.id": "999"}) == set()


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("state", "done"),
        ("state", "pending,finished"),
        ("priority", "urgent"),
        ("created_after", "yesterday"),
        ("created_before", "2024-01-01 at noon"),
        ("payload.customer id", "42"),
        ("payload.", "1"),
    ],
)
def test_a_bad_filter_value_is_refused_naming_the_parameter(api, param, value):
    response = api.get(JOBS, {param: value})
    assert response.status_code == 400
    assert param in fields(response)


@pytest.mark.parametrize("param", ["created_after", "created_before"])
def test_an_impossible_date_time_is_refused_naming_the_parameter(api, param):
    response = api.get(JOBS, {param: "2024-13-45T10:00:00"})
    assert response.status_code == 400
    assert fields(response) == [param]


def test_a_payload_path_cannot_smuggle_a_lookup(api):
    api_job(api, type="test.echo", payload={"name": "ann"})
    response = api.get(JOBS, {"payload.name__regex": "("})
    assert response.status_code == 400
    assert fields(response) == ["payload.name__regex"]


def test_an_unknown_type_filter_is_refused_naming_the_parameter(api):
    api_job(api, type="test.echo")
    response = api.get(JOBS, {"type": "test.ecko"})
    assert response.status_code == 400
    assert fields(response) == ["type"]


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T00:00:00+22:47",  # PG refuses this offset
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
    ],
)
@pytest.mark.parametrize("param", ["created_after", "run_at_before"])
def test_an_out_of_range_date_time_filter_never_answers_500(api, param, value):
    response = api.get(JOBS, {param: value})
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert fields(response) == [param]


@pytest.mark.parametrize(
    "run_at",
    ["2030-01-01T00:00:00+22:47", "9999-12-31T23:59:59-01:00"],
)
@pytest.mark.parametrize("path", [JOBS, BULK])
def test_an_out_of_range_run_at_is_refused_naming_it(api, run_at, path):
    job = {"type": "test.echo", "run_at": run_at}
    body = job if path == JOBS else {"jobs": [job]}
    response = api.post_json(path, body)
    field = "run_at" if path == JOBS else "jobs[0].run_at"
    if response.status_code == 400:
        assert fields(response) == [field]
        assert Job.objects.count() == 0
    else:  # accepted: then it must be readable like any job
        assert response.status_code == 201, response.status_code
        assert api.get(JOBS).status_code == 200
        assert len(api.get(JOBS).json()["data"]) == 1
