"""The dashboard: login required; the overview shows real counts by state."""

import pytest
from django.utils import timezone

from conductor import services
from conductor.models import Job

pytestmark = pytest.mark.django_db


def _jobs(states):
    job_type = services.job_type_ensure(name="demo.noop")
    for state in states:
        Job.objects.create(job_type=job_type, state=state, run_at=timezone.now())


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"Log in to Conductor" in page.content


def test_login_then_overview_counts(client, make_user):
    make_user(username="ops", role="viewer", password="pw-123456789")
    _jobs(["pending", "pending", "succeeded", "failed", "running"])
    response = client.post(
        "/accounts/login/",
        {"username": "ops", "password": "pw-123456789", "next": "/dashboard/"},
    )
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    page = client.get("/dashboard/")
    overview = page.context["overview"]
    assert overview.counts["pending"] == 2 and overview.counts["succeeded"] == 1
    assert overview.total == 5 and overview.active == 3 and overview.finished == 2
    html = page.content.decode()
    assert 'data-testid="jobs-total">5<' in html
    assert 'data-state="pending">2<' in html and 'data-state="dead">0<' in html


def test_htmx_refresh_returns_only_the_live_fragment(client, make_user):
    client.force_login(make_user(username="v", role="viewer"))
    _jobs(["succeeded"])
    page = client.get("/dashboard/", HTTP_HX_REQUEST="true")
    assert b"<html" not in page.content
    assert b'data-testid="jobs-total">1<' in page.content
