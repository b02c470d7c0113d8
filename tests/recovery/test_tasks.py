"""Recovery's beat chores."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor import services
from conductor.engine.run import drain
from conductor.models import Event
from recovery.models import DeadLetter
from recovery.services import dead_letter_resolve
from recovery.tasks import dlq_cleanup

pytestmark = pytest.mark.django_db


def _dead_letter():
    services.job_submit(request=services.JobRequest(
        type="demo.flaky", payload={"fail_rate": 1, "error_code": "VALIDATION_ERROR"}
    ))  # fmt: skip
    drain(queue="default", ring=lambda queue: None, worker="t")
    return DeadLetter.objects.latest("id")


def test_cleanup_task_removes_only_old_resolved_entries(settings):
    settings.CONDUCTOR_DLQ_RETENTION_DAYS = 7
    old, recent, still_open = _dead_letter(), _dead_letter(), _dead_letter()
    for entry in (old, recent):
        dead_letter_resolve(dead_letter_id=entry.id, notes="handled", actor="ops")
    DeadLetter.objects.filter(id=old.id).update(
        resolved_at=timezone.now() - timedelta(days=8)
    )
    assert dlq_cleanup() == 1
    assert set(DeadLetter.objects.values_list("id", flat=True)) == {
        recent.id, still_open.id,
    }  # fmt: skip
    assert Event.objects.get(type="dlq.cleaned").data["removed"] == 1
