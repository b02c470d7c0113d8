"""The dead-letter queue through API v2: list, detail, resubmit, resolve, discard,
bulk, analysis and cleanup (PostgreSQL; jobs die for real, run in-process)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor.engine.context import JobContext, JobError
from conductor.models import Event, Job
from conductor.registry import job_type
from recovery.models import DeadLetter, Resubmission
from tests.factories import DOOMED, api_job
from tests.observe import fields
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"
DLQ = "/api/v2/dlq"
REASON = "the upstream bug is fixed, run it again"


@job_type(
    "test.order_missing",
    schema={
        "type": "object",
        "properties": {"order": {"type": "integer"}},
        "required": ["order"],
        "additionalProperties": False,
    },
    description="Fails for good, naming its order number in the message.",
    sample_payload={"order": 1},
    timeout_s=30,
)
def order_missing(ctx: JobContext, payload: dict) -> dict:
    order = payload["order"]
    raise JobError("ORDER_MISSING", f"order {order} not found", retryable=False)


def _dead(api, *payloads, type_="demo.flaky"):
    """Submit jobs that fail for good, run them; their DLQ entries, in submit order."""
    job_ids = [
        api_job(api, type=type_, payload=payload) for payload in payloads or [DOOMED]
    ]
    run_due_jobs()
    return [DeadLetter.objects.get(job_id=job_id) for job_id in job_ids]


# --- list and detail ------------------------------------------------------------


def test_list_is_newest_first_with_the_envelope_and_a_cursor(api):
    (first,), (second,), (third,) = _dead(api), _dead(api), _dead(api)
    response = api.get(DLQ, {"page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [e["id"] for e in body["data"]] == [third.id, second.id]
    pagination = body["meta"]["pagination"]
    assert pagination["has_more"] is True
    rest = api.get(DLQ, {"page_size": 2, "cursor": pagination["next_cursor"]})
    assert [e["id"] for e in rest.json()["data"]] == [first.id]


def test_list_item_shows_status_error_and_attempts(api):
    (entry,) = _dead(api)
    (item,) = api.get(DLQ).json()["data"]
    assert item["job_id"] == str(entry.job_id)
    assert item["job_type"] == "demo.flaky" and item["status"] == "open"
    assert item["error_code"] == "VALIDATION_ERROR"
    assert "failed on purpose" in item["error_message"]
    assert [a["attempt_number"] for a in item["attempts"]] == [1]
    assert item["attempts"][0]["error_code"] == "VALIDATION_ERROR"
    assert item["resolved_at"] is None and item["resolution"] == ""


def test_list_filters(api):
    flaky_a, flaky_b = _dead(api, DOOMED, DOOMED)
    (order,) = _dead(api, {"order": 7}, type_="test.order_missing")
    api.post_json(f"{DLQ}/{flaky_b.id}/resolve", {"notes": "handled by hand"})

    def ids(**params):
        response = api.get(DLQ, params)
        assert response.status_code == 200, response.json()
        return sorted(e["id"] for e in response.json()["data"])

    assert ids(job=str(flaky_a.job_id)) == [flaky_a.id]
    assert ids(status="open") == sorted([flaky_a.id, order.id])
    assert ids(status="resolved") == [flaky_b.id]
    assert ids(status="discarded") == []
    assert ids(job_type="demo.flaky") == sorted([flaky_a.id, flaky_b.id])
    assert ids(error_code="ORDER_MISSING") == [order.id]
    assert ids(signature=flaky_a.signature) == sorted([flaky_a.id, flaky_b.id])
    assert ids(job_type="demo.flaky", status="open") == [flaky_a.id]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "closed"),  # not one of open|resubmitted|resolved|discarded
        ("job", "not-a-uuid"),  # job ids are UUIDs
        ("job_type", "demo flaky"),  # no spaces in a type name
        ("signature", "XYZ"),  # signatures are lower-case hex
        ("page_size", "0"),  # 1 to 500
    ],
)
def test_bad_filter_values_are_refused_naming_the_parameter(api, param, value):
    response = api.get(DLQ, {param: value})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert fields(response) == [param]


def test_detail_has_snapshot_error_attempts_and_no_resubmissions(api):
    (entry,) = _dead(api)
    response = api.get(f"{DLQ}/{entry.id}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == entry.id and data["status"] == "open"
    assert data["snapshot"]["type"] == "demo.flaky"
    assert data["snapshot"]["payload"] == DOOMED
    assert data["error"]["code"] == "VALIDATION_ERROR"
    assert "failed on purpose" in data["error"]["message"]
    assert data["attempts"][0]["status"] == "failed"
    assert data["retry_count"] == 0
    assert data["signature_text"].startswith("demo.flaky|VALIDATION_ERROR|")
    assert data["resubmissions"] == []


def test_unknown_entry_is_404(api):
    for path in (f"{DLQ}/987654", f"{DLQ}/99999999999999999999999"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


def test_reading_needs_the_read_scope(anon):
    assert anon.get(DLQ).status_code == 401


# --- resubmit -------------------------------------------------------------------


def test_resubmit_with_an_edited_payload_runs_the_new_job(api):
    (entry,) = _dead(api)
    response = api.post_json(
        f"{DLQ}/{entry.id}/resubmit",
        {"reason": REASON, "payload": {"fail_rate": 0}},
        HTTP_X_TRACE_ID="trace-resubmit",
    )
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    new_id = data["job_id"]
    assert response["Location"] == f"/api/v2/jobs/{new_id}"
    assert new_id != str(entry.job_id)
    assert data["entry"]["status"] == "resubmitted"
    assert data["entry"]["notes"] == REASON
    assert data["entry"]["actor"] == "api-key:test-key"
    (audit,) = data["entry"]["resubmissions"]
    assert audit["original_payload"] == DOOMED
    assert audit["modified_payload"] == {"fail_rate": 0}
    assert audit["new_job_id"] == new_id and audit["reason"] == REASON

    entry.refresh_from_db()
    assert entry.resolution == "resubmitted" and entry.resolved_at is not None
    row = Resubmission.objects.get(dead_letter=entry)
    assert str(row.new_job_id) == new_id and row.actor == "api-key:test-key"
    event = Event.objects.get(type="dlq.entry_resolved")
    assert event.actor == "api-key:test-key"
    assert event.data["resolution"] == "resubmitted" and event.data["id"] == entry.id
    new_job = Job.objects.get(id=new_id)
    assert new_job.payload == {"fail_rate": 0} and new_job.trace_id == "trace-resubmit"

    run_due_jobs()
    job = api.get(f"{JOBS}/{new_id}").json()["data"]
    assert job["state"] == "succeeded" and job["result"] == {"ok": True, "attempt": 1}


def test_resubmit_without_a_payload_sends_the_original_again(api):
    (entry,) = _dead(api)
    response = api.post_json(f"{DLQ}/{entry.id}/resubmit", {"reason": REASON})
    assert response.status_code == 201
    new_job = Job.objects.get(id=response.json()["data"]["job_id"])
    assert new_job.payload == DOOMED and new_job.job_type_id == "demo.flaky"
    assert Resubmission.objects.get().modified_payload is None


@pytest.mark.parametrize(
    "reason",
    [
        "too short",  # 9 characters: under 10
        "x" * 501,  # over 500
        "          ",  # blank
        42,  # not text
    ],
)
def test_resubmit_reason_must_be_10_to_500_characters(api, reason):
    (entry,) = _dead(api)
    jobs_before = Job.objects.count()
    response = api.post_json(f"{DLQ}/{entry.id}/resubmit", {"reason": reason})
    assert response.status_code == 400
    assert fields(response) == ["reason"]
    entry.refresh_from_db()
    assert entry.resolved_at is None
    assert Job.objects.count() == jobs_before and not Resubmission.objects.exists()


def test_resubmit_with_an_invalid_payload_names_the_payload_path(api):
    (entry,) = _dead(api)
    jobs_before = Job.objects.count()
    response = api.post_json(
        f"{DLQ}/{entry.id}/resubmit", {"reason": REASON, "payload": {"fail_rate": 5}}
    )
    assert response.status_code == 400
    assert fields(response) == ["payload.fail_rate"]
    entry.refresh_from_db()
    assert entry.resolved_at is None and Job.objects.count() == jobs_before
    assert not Event.objects.filter(type="dlq.entry_resolved").exists()


def test_resubmit_refuses_unknown_fields_and_a_payload_that_is_not_an_object(api):
    (entry,) = _dead(api)
    url = f"{DLQ}/{entry.id}/resubmit"
    response = api.post_json(url, {"reason": REASON, "priority": "high"})
    assert response.status_code == 400 and fields(response) == ["priority"]
    response = api.post_json(url, {"reason": REASON, "payload": [1, 2]})
    assert response.status_code == 400 and fields(response) == ["payload"]


def test_resubmit_of_a_closed_entry_is_a_conflict(api):
    (entry,) = _dead(api)
    resolved = api.post_json(f"{DLQ}/{entry.id}/resolve", {"notes": "done"})
    assert resolved.status_code == 200
    response = api.post_json(f"{DLQ}/{entry.id}/resubmit", {"reason": REASON})
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert not Resubmission.objects.exists()


def test_resubmit_of_an_unknown_entry_is_404(api):
    response = api.post_json(f"{DLQ}/424242/resubmit", {"reason": REASON})
    assert response.status_code == 404


def test_resubmit_needs_the_write_scope(make_key, api):
    (entry,) = _dead(api)
    from tests.conftest import JsonClient

    reader = JsonClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(scopes=['read'])}")
    response = reader.post_json(f"{DLQ}/{entry.id}/resubmit", {"reason": REASON})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.resolved_at is None


# --- resolve and discard --------------------------------------------------------


def test_resolve_needs_notes_and_records_who_and_why(api):
    (entry,) = _dead(api)
    url = f"{DLQ}/{entry.id}/resolve"
    assert fields(api.post_json(url, {})) == ["notes"]
    assert fields(api.post_json(url, {"notes": ""})) == ["notes"]

    response = api.post_json(url, {"notes": "refunded the customer by hand"})
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "resolved" and data["resolution"] == "resolved"
    assert data["notes"] == "refunded the customer by hand"
    assert data["actor"] == "api-key:test-key" and data["resolved_at"]
    entry.refresh_from_db()
    assert entry.resolution == "resolved" and entry.resolved_at is not None
    event = Event.objects.get(type="dlq.entry_resolved")
    assert event.subject_id == str(entry.job_id) and event.actor == "api-key:test-key"
    assert event.data["resolution"] == "resolved"

    again = api.post_json(url, {"notes": "twice"})
    assert again.status_code == 409


def test_discard_takes_optional_notes(api):
    first, second = _dead(api, DOOMED, DOOMED)
    response = api.post_json(f"{DLQ}/{first.id}/discard", {})
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "discarded"
    response = api.post_json(f"{DLQ}/{second.id}/discard", {"notes": "test data"})
    assert response.json()["data"]["notes"] == "test data"
    assert set(DeadLetter.objects.values_list("resolution", flat=True)) == {"discarded"}
    assert Event.objects.filter(type="dlq.entry_resolved").count() == 2


# --- bulk -----------------------------------------------------------------------


def test_bulk_resolve_answers_each_id_and_one_bad_id_fails_only_itself(api):
    good_a, good_b, closed = _dead(api, DOOMED, DOOMED, DOOMED)
    api.post_json(f"{DLQ}/{closed.id}/discard", {})
    response = api.post_json(
        f"{DLQ}/bulk",
        {
            "action": "resolve",
            "ids": [good_a.id, 999999, closed.id, good_b.id],
            "notes": "bulk fix",
        },
    )
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert [r["id"] for r in data["results"]] == [
        good_a.id,
        999999,
        closed.id,
        good_b.id,
    ]
    assert [r["status"] for r in data["results"]] == [200, 404, 409, 200]
    assert data["results"][1]["code"] == "NOT_FOUND"
    assert data["succeeded"] == 2 and data["failed"] == 2
    for entry in (good_a, good_b):
        entry.refresh_from_db()
        assert entry.resolution == "resolved" and entry.notes == "bulk fix"
    closed.refresh_from_db()
    assert closed.resolution == "discarded"


def test_bulk_resubmit_gives_each_new_job(api):
    first, second = _dead(api, DOOMED, DOOMED)
    response = api.post_json(
        f"{DLQ}/bulk",
        {"action": "resubmit", "ids": [first.id, second.id], "reason": REASON},
    )
    results = response.json()["data"]["results"]
    assert [r["status"] for r in results] == [200, 200]
    new_ids = {r["job_id"] for r in results}
    assert new_ids == {str(r.new_job_id) for r in Resubmission.objects.all()}
    assert len(new_ids) == 2


def test_bulk_discard(api):
    (entry,) = _dead(api)
    response = api.post_json(f"{DLQ}/bulk", {"action": "discard", "ids": [entry.id]})
    assert response.json()["data"]["results"][0]["status"] == 200
    entry.refresh_from_db()
    assert entry.resolution == "discarded"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "resubmit", "ids": [1]}, "reason"),  # resubmit needs a reason
        ({"action": "resubmit", "ids": [1], "reason": "short"}, "reason"),
        ({"action": "resolve", "ids": [1]}, "notes"),  # resolve needs notes
        ({"action": "retry", "ids": [1]}, "action"),  # not an action
        ({"action": "discard", "ids": []}, "ids"),  # at least one
        ({"action": "discard", "ids": ["1"]}, "ids[0]"),  # ids are integers
        ({"action": "discard", "ids": [1], "force": True}, "force"),  # unknown
    ],
)
def test_bulk_request_errors_name_the_field(api, body, field):
    response = api.post_json(f"{DLQ}/bulk", body)
    assert response.status_code == 400
    assert field in fields(response)


# --- analysis -------------------------------------------------------------------


def test_analysis_groups_messages_that_differ_only_in_numbers(api):
    order_17, order_4242 = _dead(
        api, {"order": 17}, {"order": 4242}, type_="test.order_missing"
    )
    _dead(api)
    response = api.get(f"{DLQ}/analysis")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["days"] == 14 and data["include_resolved"] is False
    assert data["since"] == (timezone.now() - timedelta(days=13)).date().isoformat()
    orders, flaky = data["groups"]  # the most frequent first
    assert orders["count"] == 2 and orders["job_type"] == "test.order_missing"
    assert orders["error_code"] == "ORDER_MISSING"
    assert orders["signature"] == order_17.signature == order_4242.signature
    assert (
        orders["signature_text"]
        == "test.order_missing|ORDER_MISSING|order <n> not found"
    )
    assert orders["sample_message"] in ("order 17 not found", "order 4242 not found")
    assert orders["first_seen"] <= orders["last_seen"]
    assert len(orders["trend"]) == 14 and orders["trend"][-1] == 2
    assert sum(orders["trend"]) == 2
    assert flaky["count"] == 1 and flaky["error_code"] == "VALIDATION_ERROR"


def test_analysis_leaves_out_closed_entries_unless_asked(api):
    first, _second = _dead(api, {"order": 1}, {"order": 2}, type_="test.order_missing")
    api.post_json(f"{DLQ}/{first.id}/resolve", {"notes": "fixed"})
    (group,) = api.get(f"{DLQ}/analysis").json()["data"]["groups"]
    assert group["count"] == 1
    response = api.get(f"{DLQ}/analysis", {"include_resolved": "true"})
    assert response.json()["data"]["include_resolved"] is True
    (group,) = response.json()["data"]["groups"]
    assert group["count"] == 2
    bad = api.get(f"{DLQ}/analysis", {"include_resolved": "maybe"})
    assert bad.status_code == 400 and fields(bad) == ["include_resolved"]


def test_analysis_of_an_empty_queue(api):
    data = api.get(f"{DLQ}/analysis").json()["data"]
    assert data["groups"] == []


# --- cleanup --------------------------------------------------------------------


def test_cleanup_removes_only_closed_entries_older_than_n_days(api, admin_api):
    old_closed, new_closed, old_open = _dead(api, DOOMED, DOOMED, DOOMED)
    for entry in (old_closed, new_closed):
        api.post_json(f"{DLQ}/{entry.id}/resolve", {"notes": "done"})
    long_ago = timezone.now() - timedelta(days=40)
    DeadLetter.objects.filter(id=old_closed.id).update(resolved_at=long_ago)
    DeadLetter.objects.filter(id=old_open.id).update(added_at=long_ago)

    response = admin_api.post_json(f"{DLQ}/cleanup", {"older_than_days": 30})
    assert response.status_code == 200, response.json()
    assert response.json()["data"] == {"removed": 1, "older_than_days": 30}
    remaining = set(DeadLetter.objects.values_list("id", flat=True))
    assert remaining == {new_closed.id, old_open.id}
    event = Event.objects.get(type="dlq.cleaned")
    assert event.actor == "api-key:admin-key" and event.data["removed"] == 1


def test_cleanup_defaults_to_the_retention_setting(api, admin_api, settings):
    settings.CONDUCTOR_DLQ_RETENTION_DAYS = 10
    old, recent = _dead(api, DOOMED, DOOMED)
    for entry in (old, recent):
        api.post_json(f"{DLQ}/{entry.id}/discard", {})
    DeadLetter.objects.filter(id=old.id).update(
        resolved_at=timezone.now() - timedelta(days=11)
    )
    response = admin_api.post_json(f"{DLQ}/cleanup", {})
    assert response.json()["data"] == {"removed": 1, "older_than_days": 10}
    assert list(DeadLetter.objects.values_list("id", flat=True)) == [recent.id]


def test_cleanup_needs_the_admin_scope_and_a_sane_age(api, admin_api):
    (entry,) = _dead(api)
    api.post_json(f"{DLQ}/{entry.id}/resolve", {"notes": "done"})
    DeadLetter.objects.update(resolved_at=timezone.now() - timedelta(days=400))
    response = api.post_json(f"{DLQ}/cleanup", {"older_than_days": 1})
    assert response.status_code == 403
    assert DeadLetter.objects.count() == 1
    for bad in (0, 3651, "30", 1.5):
        response = admin_api.post_json(f"{DLQ}/cleanup", {"older_than_days": bad})
        assert response.status_code == 400, bad
        assert fields(response) == ["older_than_days"]
    assert DeadLetter.objects.count() == 1
