"""Secret payload values (SPEC §2, issue 9): a job type's schema marks them
(``"x-secret": true``); they are sealed at rest, revealed to the handler only, and
masked in the API, the admin, the dead-letter snapshot, errors and logs."""

import hashlib
import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.urls import reverse

from conductor import registry, secrets
from conductor.models import Event, Job
from recovery.models import DeadLetter, Resubmission
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import api_job
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db

TOKEN = "tok-3f9a1c5e7b2d4a6c"
PASSWORD = "hunter2-correct-horse"
JOBS, DLQ = "/api/v2/jobs", "/api/v2/dlq"
REASON = "the token was renewed upstream, run it again"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _stored(job_id) -> str:
    """The row as the database holds it, as text."""
    return str(Job.objects.values_list("payload", flat=True).get(id=job_id))


def _dead(api, **payload) -> DeadLetter:
    job_id = api_job(api, type="test.secret", payload={"token": TOKEN, "fail": True,
                                                       **payload})  # fmt: skip
    run_due_jobs()
    return DeadLetter.objects.get(job_id=job_id)


@pytest.fixture
def keys(settings):
    """Two real keys, the first sealing."""
    settings.CONDUCTOR_SECRETS_KEYS = [Fernet.generate_key().decode() for _ in range(2)]
    return settings


@pytest.fixture
def logs():
    """Everything logged meanwhile, at every level, as text."""
    text = StringIO()
    handler = logging.StreamHandler(text)
    root = logging.getLogger()
    level, root.level = root.level, logging.DEBUG
    root.addHandler(handler)
    yield text
    root.removeHandler(handler)
    root.setLevel(level)


# --- at rest and at work ------------------------------------------------------------


def test_secret_values_are_sealed_at_rest_and_revealed_to_the_handler(api, keys):
    job_id = api_job(
        api,
        type="test.secret",
        payload={"token": TOKEN, "account": {"password": PASSWORD}, "note": "plain"},
    )
    stored = Job.objects.get(id=job_id).payload
    assert TOKEN not in _stored(job_id) and PASSWORD not in _stored(job_id)
    assert secrets.is_sealed(stored["token"])
    assert secrets.is_sealed(stored["account"]["password"])
    assert stored["note"] == "plain"  # only what the schema marks is sealed

    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "succeeded"
    assert job.result == {"token": _digest(TOKEN), "password": _digest(PASSWORD)}


def test_a_secret_is_validated_as_the_plain_value(api):
    response = api.post_json(
        JOBS, {"type": "test.secret", "payload": {"token": "short"}}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "payload.token"
    assert "short" not in str(Event.objects.values_list("data", flat=True))


def test_http_request_seals_credentials_whatever_the_header_case(api):
    headers = {"authorization": f"Bearer {TOKEN}", "X-API-KEY": "k-123456",
               "Accept": "application/json"}  # fmt: skip
    job_id = api_job(
        api, type="http.request",
        payload={"url": "https://example.com/", "headers": headers},
        run_at="2099-01-01T00:00:00Z",
    )  # fmt: skip
    sent = Job.objects.get(id=job_id).payload["headers"]
    assert secrets.is_sealed(sent["authorization"]) and secrets.is_sealed(
        sent["X-API-KEY"]
    )
    assert sent["Accept"] == "application/json"
    shown = api.get(f"{JOBS}/{job_id}").json()["data"]["payload"]["headers"]
    assert shown == {"authorization": secrets.MASK, "X-API-KEY": secrets.MASK,
                     "Accept": "application/json"}  # fmt: skip


def test_an_error_that_quotes_the_secret_is_stored_masked(api, logs):
    entry = _dead(api)
    job = Job.objects.get(id=entry.job_id)
    assert job.state == "dead"
    assert job.error["message"] == f"the service refused token {secrets.MASK}"
    attempt = job.attempt_rows.get()
    assert TOKEN not in attempt.error_message + attempt.traceback
    assert TOKEN not in entry.error_message
    assert "LEAKY" in logs.getvalue()  # the failure was logged, without the token
    assert TOKEN not in logs.getvalue()


def test_a_secret_no_key_opens_kills_the_job_with_a_clear_error(api, keys):
    job_id = api_job(api, type="test.secret", payload={"token": TOKEN})
    keys.CONDUCTOR_SECRETS_KEYS = [Fernet.generate_key().decode()]  # the key was lost
    run_due_jobs()
    job = Job.objects.get(id=job_id)
    assert job.state == "dead"
    assert job.error["code"] == "SECRET_UNREADABLE"


# --- shown masked -------------------------------------------------------------------


def test_the_api_shows_secrets_masked(api):
    job_id = api_job(api, type="test.secret",
                     payload={"token": TOKEN, "account": {"password": PASSWORD}})  # fmt: skip
    for body in (
        api.get(f"{JOBS}/{job_id}").json()["data"],
        api.get(JOBS).json()["data"][0],
    ):
        assert body["payload"] == {"token": secrets.MASK,
                                   "account": {"password": secrets.MASK}}  # fmt: skip


def test_the_dead_letter_snapshot_shows_secrets_masked(api):
    entry = _dead(api)
    body = api.get(f"{DLQ}/{entry.id}").json()["data"]
    assert body["snapshot"]["payload"] == {"token": secrets.MASK, "fail": True}
    assert TOKEN not in str(body)
    assert secrets.is_sealed(entry.snapshot["payload"]["token"])  # sealed at rest


def test_a_resubmit_that_leaves_the_mask_keeps_the_secret(api):
    entry = _dead(api)
    edited = {"token": secrets.MASK, "fail": False}  # edited from the masked view
    response = api.post_json(f"{DLQ}/{entry.id}/resubmit",
                             {"reason": REASON, "payload": edited})  # fmt: skip
    assert response.status_code == 201, response.json()
    new_id = response.json()["data"]["job_id"]
    assert secrets.is_sealed(Resubmission.objects.get().modified_payload["token"])
    run_due_jobs()
    assert Job.objects.get(id=new_id).result["token"] == _digest(TOKEN)


def test_a_resubmit_with_a_new_secret_seals_it(api):
    entry = _dead(api)
    renewed = "tok-renewed-0123456789"
    response = api.post_json(f"{DLQ}/{entry.id}/resubmit",
                             {"reason": REASON, "payload": {"token": renewed}})  # fmt: skip
    assert response.status_code == 201, response.json()
    new_id = response.json()["data"]["job_id"]
    assert renewed not in _stored(new_id)
    assert renewed not in str(Resubmission.objects.values_list("modified_payload"))
    run_due_jobs()
    assert Job.objects.get(id=new_id).result["token"] == _digest(renewed)


def test_the_admin_shows_secrets_masked(api, client, make_user):
    client.force_login(make_user(username="root", superuser=True))
    entry = _dead(api)
    resubmitted = api.post_json(f"{DLQ}/{entry.id}/resubmit",
                                {"reason": REASON, "payload": {"token": "tok-new-987654321"}})  # fmt: skip
    assert resubmitted.status_code == 201
    pages = [
        reverse("admin:conductor_job_change", args=[entry.job_id]),
        reverse("admin:recovery_deadletter_change", args=[entry.id]),
        reverse(
            "admin:recovery_resubmission_change", args=[Resubmission.objects.get().id]
        ),
    ]
    for page in pages:
        html = client.get(page).content.decode()
        assert secrets.MASK in html, page
        assert TOKEN not in html and "tok-new-987654321" not in html, page
        assert secrets.SEALED not in html, page  # not even the sealed token


# --- keys ---------------------------------------------------------------------------


def test_rotation_reseals_every_stored_secret_with_the_first_key(api, keys):
    old = keys.CONDUCTOR_SECRETS_KEYS[0]
    entry = _dead(api)
    waiting = api_job(api, type="test.secret", payload={"token": TOKEN},
                      run_at="2099-01-01T00:00:00Z")  # fmt: skip
    new = Fernet.generate_key().decode()
    keys.CONDUCTOR_SECRETS_KEYS = [new, old]
    out = StringIO()
    call_command("secrets_rotate", stdout=out)
    assert "jobs: 2" in out.getvalue() and "dead_letters: 1" in out.getvalue()

    keys.CONDUCTOR_SECRETS_KEYS = [new]  # the old key is gone: everything still opens
    payload = Job.objects.get(id=waiting).payload
    assert secrets.reveal(payload, registry.get("test.secret").schema)["token"] == TOKEN
    snapshot = DeadLetter.objects.get(id=entry.id).snapshot["payload"]
    assert (
        secrets.reveal(snapshot, registry.get("test.secret").schema)["token"] == TOKEN
    )
    assert Event.objects.filter(type="engine.secrets_rotated").count() == 1


def test_rotation_refuses_to_touch_what_no_key_opens(api, keys):
    api_job(
        api, type="test.secret", payload={"token": TOKEN}, run_at="2099-01-01T00:00:00Z"
    )
    keys.CONDUCTOR_SECRETS_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="1 row"):
        call_command("secrets_rotate", stdout=StringIO())


def test_a_bad_key_is_a_configuration_error(settings):
    from conductor.checks import check_secrets_keys

    settings.CONDUCTOR_SECRETS_KEYS = ["not-a-key"]
    assert [e.id for e in check_secrets_keys()] == ["conductor.E004"]


def test_workflow_definitions_keep_secrets_sealed():
    from conductor.workflows import services as workflows
    from conductor.workflows.models import Workflow, WorkflowRun

    secret = {"type": "test.secret", "payload": {"token": TOKEN}}
    definition = {"nodes": [{"id": "a", **secret, "compensate": secret}]}
    workflow = workflows.workflow_create(name="with-secret", definition=definition,
                                         actor="me")  # fmt: skip
    run = workflows.workflow_run(workflow=workflow, actor="me")
    for stored in (
        Workflow.objects.get().definition,
        WorkflowRun.objects.get().definition,
    ):
        assert TOKEN not in str(stored)
        assert secrets.is_sealed(stored["nodes"][0]["payload"]["token"])
        assert secrets.is_sealed(stored["nodes"][0]["compensate"]["payload"]["token"])
    run_due_jobs()
    job = Job.objects.get(workflow_run=run, workflow_node="a")
    assert job.result["token"] == _digest(TOKEN)


def test_the_api_shows_workflow_definitions_masked(api):
    secret = {"type": "test.secret", "payload": {"token": TOKEN}}
    definition = {"nodes": [{"id": "a", **secret, "compensate": secret}]}
    created = api.post_json("/api/v2/workflows",
                            {"name": "masked", "definition": definition})  # fmt: skip
    assert created.status_code == 201, created.json()
    for body in (
        created.json()["data"],
        api.get("/api/v2/workflows/masked").json()["data"],
    ):
        node = body["definition"]["nodes"][0]
        assert node["payload"] == {"token": secrets.MASK}
        assert node["compensate"]["payload"] == {"token": secrets.MASK}
