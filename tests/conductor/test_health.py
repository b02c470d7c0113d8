"""/healthz and /readyz (SPEC §14): readiness for everyone, its details for staff."""

import pytest
from django.utils import timezone

from conductor import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, make_user):
    user = make_user(username="ops")
    user.is_staff = True
    user.save()
    client.force_login(user)
    return client


def test_healthz_is_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_tells_anyone_only_whether_it_is_ready(client, make_user):
    assert client.get("/readyz").json() == {"status": "ready"}
    client.force_login(make_user(username="viewer-not-staff", role="viewer"))
    assert client.get("/readyz").json() == {"status": "ready"}


def test_readyz_checks_database_and_broker(staff):
    response = staff.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_readyz_reports_beat_and_workers_seen(staff):
    services.heartbeat_record(name="beat", kind="beat", at=timezone.now())
    services.heartbeat_record(name="worker@h1", kind="worker", at=timezone.now())
    body = staff.get("/readyz").json()
    assert body["beat_seen"] is True and body["workers_seen"] == ["worker@h1"]


def test_readyz_is_503_when_the_broker_does_not_answer(client, staff, monkeypatch):
    from conductor.celery import app

    # A Redis port nothing listens on: the broker check must fail, fast.
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = staff.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
    client.logout()
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "not ready"}  # no error text, no hosts
