"""Recovery's beat chores."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conductor.models import Event
from recovery.models import DeadLetter
from recovery.services import dead_letter_resolve
from recovery.tasks import dlq_cleanup
from tests.factories import DOOMED, JobFactory
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db


def _dead_letter():
    JobFactory(type="demo.flaky", payload=DOOMED)
    run_due_jobs()
    return DeadLetter.objects.latest("id")


def test_cleanup_task_removes_only_old_resolved_entries(settings):
    settings.CONDUCTOR_DLQ_RETENTION_DAYS = 7
    with time_machine.travel(timezone.now(), tick=False) as clock:
        old, recent, still_open = _dead_letter(), _dead_letter(), _dead_letter()
        dead_letter_resolve(dead_letter_id=old.id, notes="handled", actor="ops")
        clock.shift(timedelta(days=8))
        dead_letter_resolve(dead_letter_id=recent.id, notes="handled", actor="ops")
        assert dlq_cleanup() == 1  # eight days on, only the older one goes
    assert set(DeadLetter.objects.values_list("id", flat=True)) == {
        recent.id, still_open.id,
    }  # fmt: skip
    assert Event.objects.get(type="dlq.cleaned").data["removed"] == 1
