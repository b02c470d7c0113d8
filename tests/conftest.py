"""Shared fixtures: API clients with keys of given scopes, users with roles, job helpers."""

import json

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from conductor import services
from tests.conductor.egress.loopback import Loopback


@pytest.fixture
def make_key(db):
    def make(scopes=("read", "write"), tier="standard", name="test-key"):
        _row, key = services.api_key_create(
            name=name, scopes=list(scopes), tier=tier, actor="test"
        )
        return key

    return make


class JsonClient(APIClient):
    """An API client that sends raw JSON bodies (so tests control every byte)."""

    def post_json(self, path, body, **extra):
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return self.post(path, data, content_type="application/json", **extra)


@pytest.fixture
def api(make_key):
    client = JsonClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {make_key()}")
    return client


@pytest.fixture
def anon():
    return JsonClient()


@pytest.fixture
def make_user(db):
    def make(username="user", role=None, superuser=False, password="pw-123456789"):
        if superuser:
            user = User.objects.create_superuser(
                username, f"{username}@x.test", password
            )
        else:
            user = User.objects.create_user(username, f"{username}@x.test", password)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def admin_api(make_key):
    """A client whose key has every scope."""
    client = JsonClient()
    key = make_key(scopes=["read", "write", "admin"], name="admin-key")
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def loopback():
    """An HTTP server on a loopback port, stopped at the end of the test."""
    server = Loopback()
    yield server
    server.stop()


@pytest.fixture
def allow_loopback(settings):
    """Outbound calls may reach loopback servers (the SSRF guard refuses them else)."""
    settings.CONDUCTOR_EGRESS_ALLOW_HOSTS = ["127.0.0.1"]
