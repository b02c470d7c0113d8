"""Who may call the API: expired, revoked and orphaned keys are refused with 401."""

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from conductor import services
from conductor.models import ApiKey
from tests.conftest import JsonClient

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"


def _client(key: str) -> JsonClient:
    client = JsonClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def _key(**options) -> tuple[ApiKey, str]:
    return services.api_key_create(name="k", scopes=["read"], actor="t", **options)


def test_a_key_works_until_it_expires_then_is_refused():
    row, key = _key(expires_at=timezone.now() + timedelta(days=1))
    assert _client(key).get(JOBS).status_code == 200
    with time_machine.travel(row.expiry_date + timedelta(seconds=1)):
        response = _client(key).get(JOBS)
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown, revoked or expired API key"


def test_a_revoked_key_is_refused():
    row, key = _key()
    services.api_key_revoke(key=row, actor="ops")
    assert _client(key).get(JOBS).status_code == 401


def test_a_key_whose_owner_is_inactive_is_refused():
    owner = User.objects.create_user("alice")
    _row, key = _key(owner=owner)
    assert _client(key).get(JOBS).status_code == 200
    owner.is_active = False
    owner.save()
    assert _client(key).get(JOBS).status_code == 401


def test_a_key_cannot_be_made_already_expired():
    with pytest.raises(Exception, match="expires_at"):
        _key(expires_at=timezone.now() - timedelta(minutes=1))


def test_the_admin_keeps_the_expiry_date_it_was_given(client, make_user):
    client.force_login(make_user(username="root", superuser=True))
    response = client.post(
        reverse("admin:conductor_apikey_add"),
        {"name": "dated", "scopes": '["read"]', "tier": "standard",
         "expiry_date_0": "2099-01-02", "expiry_date_1": "03:04:05"},
        follow=True,
    )  # fmt: skip
    assert response.status_code == 200
    row = ApiKey.objects.get(name="dated")
    assert row.expiry_date is not None
    assert row.expiry_date.strftime("%Y-%m-%d %H:%M:%S") == "2099-01-02 03:04:05"


def test_create_api_key_takes_expires_in_days():
    out = StringIO()
    call_command("create_api_key", "--name", "ci", "--expires-in-days", "7", stdout=out)
    row = ApiKey.objects.get(name="ci")
    left = row.expiry_date - timezone.now()
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7)
    assert "expires" in out.getvalue().splitlines()[0]
    with pytest.raises(CommandError, match="expires-in-days"):
        call_command("create_api_key", "--name", "x", "--expires-in-days", "0")
