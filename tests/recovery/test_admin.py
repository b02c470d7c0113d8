"""Recovery in the admin: every model listed, writes through the services (validated
and journalled with the operator's name), records read-only."""

import pytest
from django.urls import reverse

from conductor.models import Event, Job
from recovery import services
from recovery.models import (
    BreakerTransition,
    DeadLetter,
    ErrorRule,
    Resubmission,
    RetryPolicy,
)
from tests.factories import DOOMED, JobFactory
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(username="root", superuser=True))
    return client


def _dead(count=1):
    """Dead letters of jobs that failed for good, in id order."""
    JobFactory.create_batch(count, type="demo.flaky", payload=DOOMED)
    run_due_jobs()
    return list(DeadLetter.objects.order_by("id"))


def _breaker(service="svc"):
    return services.breaker_ensure(service=service)


def _url(model, view, *args):
    return reverse(f"admin:recovery_{model}_{view}", args=args)


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def _act(client, model, action, rows):
    return client.post(
        _url(model, "changelist"),
        {"action": action, "_selected_action": [str(row.pk) for row in rows]},
        follow=True,
    )


POLICY_FORM = {
    "name": "payments",
    "description": "",
    "max_retries": "4",
    "initial_delay_ms": "500",
    "max_delay_ms": "10000",
    "strategy": "exponential",
    "backoff_multiplier": "2",
    "jitter": "0.1",
    "delays_ms": "[]",
    "retryable_errors": '["HTTP_5XX"]',
    "non_retryable_errors": "",
}

RULE_FORM = {
    "match": "code",
    "pattern": "SERVICE_UNAVAILABLE",
    "retryable": "",  # unchecked: do not retry
    "order": "0",
    "enabled": "on",
    "description": "",
}


# --- every model is there -------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [
        "retrypolicy",
        "errorrule",
        "circuitbreaker",
        "breakertransition",
        "deadletter",
        "resubmission",
    ],
)
def test_changelists_load(admin_client, model):
    (entry,) = _dead()
    services.dead_letter_resubmit(
        dead_letter_id=entry.id, reason="a reason of some length", actor="test"
    )
    services.breaker_force_open(service=_breaker().service_name, actor="test")
    services.retry_policy_create(data={"name": "p"}, actor="test")
    services.error_rule_create(data={"pattern": "X", "retryable": True}, actor="test")
    response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_filters_search_and_date_hierarchy_work(admin_client):
    first, second = _dead(2)
    services.dead_letter_resolve(dead_letter_id=first.id, notes="done", actor="test")
    url = _url("deadletter", "changelist")
    open_only = admin_client.get(url, {"status": "open"})
    assert [e.id for e in open_only.context["cl"].result_list] == [second.id]
    resolved = admin_client.get(url, {"status": "resolved"})
    assert [e.id for e in resolved.context["cl"].result_list] == [first.id]
    found = admin_client.get(url, {"q": "VALIDATION_ERROR"})
    assert found.context["cl"].result_count == 2
    year = first.added_at.year
    assert admin_client.get(url, {"added_at__year": year}).status_code == 200


def test_detail_pages_load(admin_client):
    (entry,) = _dead()
    services.dead_letter_resubmit(
        dead_letter_id=entry.id, reason="a reason of some length", actor="test"
    )
    breaker = _breaker()
    services.breaker_force_open(service="svc", actor="test")
    policy = RetryPolicy.objects.create(name="p")
    rule = ErrorRule.objects.create(pattern="X", retryable=True)
    pages = [
        _url("deadletter", "change", entry.pk),
        _url("circuitbreaker", "change", breaker.pk),
        _url("retrypolicy", "change", policy.pk),
        _url("errorrule", "change", rule.pk),
        _url("breakertransition", "change", BreakerTransition.objects.get().pk),
        _url("resubmission", "change", Resubmission.objects.get().pk),
        _url("retrypolicy", "add"),
        _url("errorrule", "add"),
    ]
    for page in pages:
        assert admin_client.get(page).status_code == 200, page


def test_records_are_read_only(admin_client):
    (entry,) = _dead()
    for model in ("deadletter", "breakertransition", "resubmission", "circuitbreaker"):
        assert admin_client.get(_url(model, "add")).status_code == 403, model
    response = admin_client.post(
        _url("deadletter", "change", entry.pk), {"notes": "edited"}
    )
    assert response.status_code == 403
    assert admin_client.post(_url("deadletter", "delete", entry.pk)).status_code == 403
    entry.refresh_from_db()
    assert entry.notes == "" and entry.resolved_at is None


# --- retry policies -------------------------------------------------------------


def test_adding_a_policy_goes_through_the_service(admin_client):
    response = admin_client.post(_url("retrypolicy", "add"), POLICY_FORM)
    assert response.status_code == 302
    policy = RetryPolicy.objects.get(name="payments")
    assert policy.max_retries == 4 and policy.retryable_errors == ["HTTP_5XX"]
    assert policy.non_retryable_errors == [] and policy.created_by == "root"
    event = Event.objects.get(type="retry_policy.created")
    assert event.actor == "root" and event.subject_id == "payments"


def test_an_invalid_policy_is_refused_with_a_message_and_not_saved(admin_client):
    form = {**POLICY_FORM, "initial_delay_ms": "5000", "max_delay_ms": "2000"}
    response = admin_client.post(_url("retrypolicy", "add"), form)
    assert response.status_code == 200  # the form again, with what was typed
    messages = _messages(response)
    assert any(
        m.startswith("max_delay_ms: must be ≥ initial_delay_ms") for m in messages
    )
    assert response.context["adminform"].form["max_delay_ms"].value() == "2000"
    assert not RetryPolicy.objects.exists()
    assert not Event.objects.filter(type__startswith="retry_policy.").exists()


def test_changing_a_policy_goes_through_the_service(admin_client):
    services.retry_policy_create(data={"name": "p"}, actor="test")
    policy = RetryPolicy.objects.get()
    url = _url("retrypolicy", "change", policy.pk)
    form = {**POLICY_FORM, "max_retries": "9"}
    del form["name"]  # read-only once made
    response = admin_client.post(url, form)
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.max_retries == 9 and policy.initial_delay_ms == 500
    event = Event.objects.get(type="retry_policy.updated")
    assert event.actor == "root" and event.data["max_retries"] == 9

    response = admin_client.post(url, {**form, "jitter": "3"})
    assert response.status_code == 200
    assert any(m.startswith("jitter: ") for m in _messages(response))
    policy.refresh_from_db()
    assert policy.jitter == 0.1
    assert Event.objects.filter(type="retry_policy.updated").count() == 1


def test_deleting_a_policy_goes_through_the_service(admin_client):
    services.retry_policy_create(data={"name": "p"}, actor="test")
    policy = RetryPolicy.objects.get()
    response = admin_client.post(
        _url("retrypolicy", "delete", policy.pk), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not RetryPolicy.objects.exists()
    assert Event.objects.get(type="retry_policy.deleted").actor == "root"


# --- error rules ----------------------------------------------------------------


def test_adding_and_changing_a_rule_goes_through_the_service(admin_client):
    response = admin_client.post(_url("errorrule", "add"), RULE_FORM)
    assert response.status_code == 302
    rule = ErrorRule.objects.get()
    assert rule.retryable is False and rule.created_by == "root"
    assert Event.objects.get(type="error_rule.created").actor == "root"

    url = _url("errorrule", "change", rule.pk)
    response = admin_client.post(url, {**RULE_FORM, "order": "7"})
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.order == 7
    assert Event.objects.get(type="error_rule.updated").actor == "root"


def test_an_invalid_rule_is_refused_with_a_message_and_not_saved(admin_client):
    response = admin_client.post(
        _url("errorrule", "add"), {**RULE_FORM, "order": "20000000"}
    )
    assert response.status_code == 200
    assert any(m.startswith("order: ") for m in _messages(response))
    assert not ErrorRule.objects.exists()
    assert not Event.objects.filter(type="error_rule.created").exists()


def test_deleting_rules_goes_through_the_service(admin_client):
    for pattern in ("A", "B"):
        services.error_rule_create(
            data={"pattern": pattern, "retryable": True}, actor="test"
        )
    rules = list(ErrorRule.objects.all())
    response = admin_client.post(
        _url("errorrule", "changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(r.pk) for r in rules],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not ErrorRule.objects.exists()
    deleted = Event.objects.filter(type="error_rule.deleted", actor="root")
    assert deleted.count() == 2


# --- breakers -------------------------------------------------------------------


def test_breaker_thresholds_are_saved_through_the_service(admin_client):
    breaker = _breaker()
    url = _url("circuitbreaker", "change", breaker.pk)
    form = {
        "failure_threshold": "3",
        "success_threshold": "2",
        "timeout_ms": "5000",
        "monitoring_window_ms": "60000",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302
    breaker.refresh_from_db()
    assert breaker.failure_threshold == 3 and breaker.timeout_ms == 5000
    event = Event.objects.get(type="breaker.updated")
    assert event.actor == "root" and event.data["failure_threshold"] == 3

    response = admin_client.post(url, {**form, "failure_threshold": "0"})
    assert response.status_code == 200
    assert "failure_threshold: must be between 1 and 1000" in _messages(response)
    breaker.refresh_from_db()
    assert breaker.failure_threshold == 3


def test_breaker_actions_force_open_and_reset(admin_client):
    breaker = _breaker()
    response = _act(admin_client, "circuitbreaker", "force_open_breakers", [breaker])
    assert "Forced open 1 breaker(s)." in _messages(response)
    breaker.refresh_from_db()
    assert breaker.state == "open"
    assert Event.objects.get(type="breaker.opened").actor == "root"

    response = _act(admin_client, "circuitbreaker", "reset_breakers", [breaker])
    assert "Reset 1 breaker(s)." in _messages(response)
    breaker.refresh_from_db()
    assert breaker.state == "closed"
    assert Event.objects.get(type="breaker.closed").actor == "root"
    transitions = BreakerTransition.objects.order_by("id")
    assert [(t.to_state, t.actor) for t in transitions] == [
        ("open", "root"),
        ("closed", "root"),
    ]


# --- dead letters ---------------------------------------------------------------


def test_resolve_action_with_a_note_naming_the_operator(admin_client):
    first, second = _dead(2)
    response = _act(admin_client, "deadletter", "resolve_entries", [first, second])
    assert "Resolved 2 dead letter(s)." in _messages(response)
    for entry in (first, second):
        entry.refresh_from_db()
        assert entry.resolution == "resolved" and entry.actor == "root"
        assert entry.notes == "resolved in the admin by root"
    events = Event.objects.filter(type="dlq.entry_resolved", actor="root")
    assert events.count() == 2


def test_discard_action(admin_client):
    (entry,) = _dead()
    _act(admin_client, "deadletter", "discard_entries", [entry])
    entry.refresh_from_db()
    assert entry.resolution == "discarded"
    assert entry.notes == "discarded in the admin by root"


def test_resubmit_action_makes_a_new_job_with_an_audit_record(admin_client):
    (entry,) = _dead()
    response = _act(admin_client, "deadletter", "resubmit_entries", [entry])
    assert "Resubmitted 1 dead letter(s)." in _messages(response)
    entry.refresh_from_db()
    assert entry.resolution == "resubmitted"
    audit = Resubmission.objects.get()
    assert audit.reason == "resubmitted in the admin by root" and audit.actor == "root"
    new_job = Job.objects.get(id=audit.new_job_id)
    assert new_job.state == "pending" and new_job.payload == DOOMED


def test_an_action_on_a_closed_entry_warns_and_does_the_others(admin_client):
    closed, open_ = _dead(2)
    services.dead_letter_discard(dead_letter_id=closed.id, actor="test")
    response = _act(admin_client, "deadletter", "resolve_entries", [closed, open_])
    messages = _messages(response)
    assert "Resolved 1 dead letter(s)." in messages
    assert any("already discarded" in m for m in messages)
    closed.refresh_from_db()
    open_.refresh_from_db()
    assert closed.resolution == "discarded" and open_.resolution == "resolved"
