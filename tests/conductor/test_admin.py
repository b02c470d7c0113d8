"""Every model is in the admin, and admin writes are journalled."""

import pytest
from django.urls import reverse
from django.utils import timezone

from conductor import services
from conductor.models import ApiKey, Event, Job, JobType

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(username="root", superuser=True))
    services.job_type_sync(actor="test")
    job_type = JobType.objects.get(name="demo.noop")
    Job.objects.create(job_type=job_type, run_at=timezone.now())
    return client


@pytest.mark.parametrize(
    "model",
    [
        "jobtype",
        "job",
        "retryattempt",
        "event",
        "apikey",
        "heartbeat",
        "jobdependency",
        "workflow",
        "workflowrun",
    ],
)
def test_changelists_load(admin_client, model):
    response = admin_client.get(reverse(f"admin:conductor_{model}_changelist"))
    assert response.status_code == 200


def test_job_detail_loads(admin_client):
    job = Job.objects.get()
    response = admin_client.get(reverse("admin:conductor_job_change", args=[job.pk]))
    assert response.status_code == 200


def test_operator_override_in_admin_is_journalled(admin_client):
    job_type = JobType.objects.get(name="demo.noop")
    url = reverse("admin:conductor_jobtype_change", args=[job_type.pk])
    response = admin_client.post(
        url, {"override_max_retries": "6", "override_timeout_s": "", "paused": "on"}
    )
    assert response.status_code == 302, response.content[:2000]
    job_type.refresh_from_db()
    assert job_type.override_max_retries == 6 and job_type.paused is True
    event = Event.objects.get(type="job_type.updated")
    assert event.actor == "root"
    assert event.data == {"override_max_retries": 6, "paused": True}


def test_creating_a_key_in_the_admin_shows_it_once(admin_client):
    response = admin_client.post(
        reverse("admin:conductor_apikey_add"),
        {"name": "from-admin", "scopes": '["read"]', "tier": "standard"},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("The API key for from-admin is:" in m for m in messages)
    assert ApiKey.objects.filter(name="from-admin").count() == 1
    assert Event.objects.filter(type="api_key.created").exists()


def test_cancel_and_resume_actions_in_the_admin(admin_client):
    job = Job.objects.get()
    url = reverse("admin:conductor_job_changelist")
    response = admin_client.post(
        url, {"action": "cancel_jobs", "_selected_action": [str(job.pk)]}, follow=True
    )
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.state == "cancelled" and job.cancelled_by == "root"
    assert Event.objects.filter(type="job.cancelled", actor="root").exists()
    admin_client.post(url, {"action": "resume_jobs", "_selected_action": [str(job.pk)]})
    job.refresh_from_db()
    assert job.state == "pending"


def test_retry_action_refuses_a_pending_job_with_a_message(admin_client):
    job = Job.objects.get()
    response = admin_client.post(
        reverse("admin:conductor_job_changelist"),
        {"action": "retry_jobs", "_selected_action": [str(job.pk)]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("only failed or dead jobs" in m for m in messages)
    job.refresh_from_db()
    assert job.state == "pending"
