"""Named retry policies and error rules through API v2, and the engine using them on
the very next failure (PostgreSQL; jobs run in-process)."""

import pytest

from conductor.models import Event, Job, RetryAttempt
from recovery.models import DeadLetter, ErrorRule, RetryPolicy
from tests.conftest import JsonClient
from tests.factories import api_job
from tests.observe import fields
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"
POLICIES = "/api/v2/retry-policies"
RULES = "/api/v2/error-rules"


@pytest.fixture
def reader(make_key):
    client = JsonClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key(scopes=['read'])}")
    return client


# --- retry policies -------------------------------------------------------------


def test_create_a_policy_with_defaults_for_what_is_left_out(api):
    response = api.post_json(
        POLICIES, {"name": "payments", "max_retries": 5, "strategy": "linear"}
    )
    assert response.status_code == 201, response.json()
    assert response["Location"] == f"{POLICIES}/payments"
    data = response.json()["data"]
    assert data["name"] == "payments" and data["max_retries"] == 5
    assert data["strategy"] == "linear"
    assert data["initial_delay_ms"] == 1000 and data["max_delay_ms"] == 300_000
    assert data["created_by"] == "api-key:test-key"
    assert RetryPolicy.objects.get(name="payments").max_retries == 5
    event = Event.objects.get(type="retry_policy.created")
    assert event.subject_id == "payments" and event.actor == "api-key:test-key"
    assert event.data["max_retries"] == 5

    assert [p["name"] for p in api.get(POLICIES).json()["data"]] == ["payments"]
    assert api.get(f"{POLICIES}/payments").json()["data"] == data


def test_a_second_policy_with_the_same_name_is_a_conflict(api):
    assert api.post_json(POLICIES, {"name": "p1"}).status_code == 201
    response = api.post_json(POLICIES, {"name": "p1", "max_retries": 1})
    assert response.status_code == 409
    assert RetryPolicy.objects.get(name="p1").max_retries == 3


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "p", "max_retries": 101}, "max_retries", "100"),
        ({"name": "p", "initial_delay_ms": 50}, "initial_delay_ms", "100"),
        ({"name": "p", "max_delay_ms": 500}, "max_delay_ms", "1000"),
        # max ≥ initial, checked by the service across fields
        (
            {"name": "p", "initial_delay_ms": 5000, "max_delay_ms": 2000},
            "max_delay_ms",
            "initial_delay_ms",
        ),
        # custom needs its delays
        ({"name": "p", "strategy": "custom"}, "delays_ms", "custom"),
        ({"name": "p", "strategy": "random"}, "strategy", "valid choice"),
        ({"name": "p", "backoff_multiplier": 11}, "backoff_multiplier", "10"),
        ({"name": "p", "jitter": 2}, "jitter", "1"),
        ({"name": "p", "max_retries": "3"}, "max_retries", "integer"),
        ({"name": "bad name!"}, "name", "match"),
        ({"name": 42}, "name", "string"),
        ({"name": "p", "retryable_errors": [""]}, "retryable_errors[0]", "blank"),
        ({"name": "p", "colour": "red"}, "colour", "unknown"),
        ({}, "name", "required"),
    ],
)
def test_invalid_policies_name_the_field(api, body, field, words):
    response = api.post_json(POLICIES, body)
    assert response.status_code == 400
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field in errors, errors
    assert words in errors[field]
    assert not RetryPolicy.objects.exists()
    assert not Event.objects.filter(type="retry_policy.created").exists()


def test_a_custom_policy_keeps_its_delays(api):
    body = {"name": "steps", "strategy": "custom", "delays_ms": [100, 500, 2000]}
    response = api.post_json(POLICIES, body)
    assert response.status_code == 201, response.json()
    assert response.json()["data"]["delays_ms"] == [100, 500, 2000]


def test_patch_a_policy_validates_it_as_a_whole_and_journals_it(api):
    api.post_json(POLICIES, {"name": "p", "initial_delay_ms": 500})
    url = f"{POLICIES}/p"
    response = api.patch(
        url, {"max_retries": 7, "description": "slow API"}, format="json"
    )
    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["max_retries"] == 7 and data["description"] == "slow API"
    assert data["initial_delay_ms"] == 500  # untouched
    event = Event.objects.get(type="retry_policy.updated")
    assert event.data == {"max_retries": 7, "description": "slow API"}

    # 900 < initial_delay_ms? No: 900 < the 1,000 floor, and the name cannot change.
    assert fields(api.patch(url, {"max_delay_ms": 900}, format="json")) == [
        "max_delay_ms"
    ]
    assert fields(api.patch(url, {"name": "q"}, format="json")) == ["name"]
    response = api.patch(
        url, {"initial_delay_ms": 60_000, "max_delay_ms": 1000}, format="json"
    )
    assert fields(response) == ["max_delay_ms"]
    policy = RetryPolicy.objects.get(name="p")
    assert policy.initial_delay_ms == 500 and policy.max_delay_ms == 300_000


def test_unknown_policy_is_404(api):
    assert api.get(f"{POLICIES}/nope").status_code == 404
    assert api.patch(f"{POLICIES}/nope", {}, format="json").status_code == 404


def test_deleting_a_policy_needs_the_admin_scope(api, admin_api):
    api.post_json(POLICIES, {"name": "p"})
    assert api.delete(f"{POLICIES}/p").status_code == 403
    assert RetryPolicy.objects.filter(name="p").exists()
    response = admin_api.delete(f"{POLICIES}/p")
    assert response.status_code == 204 and response.content == b""
    assert not RetryPolicy.objects.exists()
    event = Event.objects.get(type="retry_policy.deleted")
    assert event.actor == "api-key:admin-key" and event.subject_id == "p"
    assert admin_api.delete(f"{POLICIES}/p").status_code == 404


def test_creating_needs_the_write_scope(reader):
    assert reader.get(POLICIES).status_code == 200
    assert reader.post_json(POLICIES, {"name": "p"}).status_code == 403
    assert (
        reader.post_json(RULES, {"pattern": "X", "retryable": True}).status_code == 403
    )
    assert not RetryPolicy.objects.exists() and not ErrorRule.objects.exists()


def test_a_job_naming_a_policy_fails_by_it(api):
    api.post_json(POLICIES, {"name": "once", "max_retries": 0})
    job_id = api_job(
        api, type="demo.flaky", payload={"fail_rate": 1}, retry_policy="once"
    )
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "dead" and job.attempts == 1  # SERVICE_UNAVAILABLE, no retry


# --- error rules ----------------------------------------------------------------


def test_create_read_change_and_delete_a_rule(api, admin_api):
    response = api.post_json(
        RULES,
        {"pattern": "HTTP_*", "retryable": False, "order": 5, "description": "no"},
    )
    assert response.status_code == 201, response.json()
    data = response.json()["data"]
    rule_id = data["id"]
    assert response["Location"] == f"{RULES}/{rule_id}"
    assert data["match"] == "code" and data["enabled"] is True
    assert data["created_by"] == "api-key:test-key"
    created = Event.objects.get(type="error_rule.created")
    assert created.subject_id == str(rule_id) and created.data["pattern"] == "HTTP_*"
    assert [r["id"] for r in api.get(RULES).json()["data"]] == [rule_id]
    assert api.get(f"{RULES}/{rule_id}").json()["data"] == data

    response = api.patch(f"{RULES}/{rule_id}", {"enabled": False}, format="json")
    assert response.status_code == 200
    assert response.json()["data"]["enabled"] is False
    assert response.json()["data"]["pattern"] == "HTTP_*"
    assert Event.objects.filter(type="error_rule.updated").count() == 1

    assert api.delete(f"{RULES}/{rule_id}").status_code == 403
    assert admin_api.delete(f"{RULES}/{rule_id}").status_code == 204
    assert not ErrorRule.objects.exists()
    assert Event.objects.get(type="error_rule.deleted").actor == "api-key:admin-key"
    assert api.get(f"{RULES}/{rule_id}").status_code == 404


def test_a_rule_for_the_same_pattern_is_a_conflict(api):
    body = {"match": "exception", "pattern": "TimeoutError", "retryable": True}
    assert api.post_json(RULES, body).status_code == 201
    assert api.post_json(RULES, {**body, "retryable": False}).status_code == 409
    other = api.post_json(RULES, {"pattern": "OTHER", "retryable": True}).json()
    response = api.patch(
        f"{RULES}/{other['data']['id']}",
        {"match": "exception", "pattern": "TimeoutError"},
        format="json",
    )
    assert response.status_code == 409
    assert ErrorRule.objects.get(id=other["data"]["id"]).pattern == "OTHER"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"retryable": True}, "pattern"),  # required
        ({"pattern": "X"}, "retryable"),  # required
        ({"pattern": "X", "retryable": "no"}, "retryable"),  # true or false only
        ({"pattern": "X", "retryable": True, "match": "message"}, "match"),
        ({"pattern": "", "retryable": True}, "pattern"),
        ({"pattern": "X" * 201, "retryable": True}, "pattern"),
        ({"pattern": "X", "retryable": True, "order": 10**7}, "order"),
        ({"pattern": "X", "retryable": True, "weight": 1}, "weight"),  # unknown
    ],
)
def test_invalid_rules_name_the_field(api, body, field):
    response = api.post_json(RULES, body)
    assert response.status_code == 400
    assert field in fields(response)
    assert not ErrorRule.objects.exists()


def test_unknown_rule_is_404(api):
    assert api.get(f"{RULES}/424242").status_code == 404
    assert api.get(f"{RULES}/abc").status_code == 404


def test_a_rule_created_through_the_api_applies_to_the_very_next_failure(api):
    # SERVICE_UNAVAILABLE is retryable by default: this job is scheduled again.
    before = api_job(api, type="demo.flaky", payload={"fail_rate": 1})
    run_due_jobs()
    assert Job.objects.get(id=before).state == "pending"

    response = api.post_json(
        RULES, {"pattern": "SERVICE_UNAVAILABLE", "retryable": False}
    )
    assert response.status_code == 201

    # No restart: the next failure is judged by the new rule and dead-lettered.
    after = api_job(api, type="demo.flaky", payload={"fail_rate": 1})
    run_due_jobs()
    job = Job.objects.get(id=after)
    assert job.state == "dead" and job.attempts == 1
    assert RetryAttempt.objects.filter(job_id=after).count() == 1
    entry = DeadLetter.objects.get(job_id=after)
    assert entry.error_code == "SERVICE_UNAVAILABLE"

    # Disabling it makes the default apply again.
    rule_id = response.json()["data"]["id"]
    api.patch(f"{RULES}/{rule_id}", {"enabled": False}, format="json")
    again = api_job(api, type="demo.flaky", payload={"fail_rate": 1})
    run_due_jobs()
    assert Job.objects.get(id=again).state == "pending"
