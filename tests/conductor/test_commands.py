"""Management commands of SPEC §14."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from conductor.models import ApiKey, Event, JobType

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_the_key_alone_on_the_last_line():
    out = StringIO()
    call_command(
        "create_api_key",
        "--name",
        "ci",
        "--scopes",
        "read,write,admin",
        "--tier",
        "premium",
        stdout=out,
    )
    key = out.getvalue().strip().splitlines()[-1]
    row = ApiKey.objects.get(name="ci")
    assert row.scopes == ["read", "write", "admin"] and row.tier == "premium"
    assert " " not in key and key.startswith(row.prefix + ".")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/v2/jobs").status_code == 200
    assert Event.objects.filter(type="api_key.created", subject_id=row.prefix).exists()
    assert key not in str(Event.objects.get(type="api_key.created").data)


def test_create_api_key_refuses_unknown_scopes():
    with pytest.raises(CommandError, match="scopes"):
        call_command("create_api_key", "--name", "x", "--scopes", "read,root")


def test_sync_job_types_registers_the_demo_types_and_keeps_overrides():
    call_command("sync_job_types", stdout=StringIO())
    assert {"demo.noop", "demo.sleep", "demo.flaky"} <= set(
        JobType.objects.values_list("name", flat=True)
    )
    JobType.objects.filter(name="demo.noop").update(override_max_retries=7)
    JobType.objects.create(name="gone.type", schema={})
    out = StringIO()
    call_command("sync_job_types", stdout=out)
    assert "1 no longer registered" in out.getvalue()
    assert JobType.objects.get(name="demo.noop").override_max_retries == 7
    assert JobType.objects.get(name="gone.type").registered is False
