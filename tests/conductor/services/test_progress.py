"""What a running handler reports (progress, checkpoints) is written only for the
attempt that is running now, by the worker running it."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from conductor.engine import lease
from conductor.engine.sweep import leases_reclaim
from conductor.models import Job
from conductor.services import job_checkpoint_record, job_progress_record
from tests.factories import JobFactory
from tests.worker import claim

pytestmark = pytest.mark.django_db


def test_reports_of_an_earlier_attempt_by_the_same_worker_are_dropped():
    job = JobFactory(max_retries=3)
    claim(worker="w")  # attempt 1 ... which starts, stalls, and loses its lease
    lease.mark_started(ids=[str(job.id)], worker="w")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now())
    leases_reclaim(now=timezone.now() + timedelta(seconds=1))
    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=False):
        [second] = claim(worker="w")  # the same process runs attempt 2
    assert second.attempt == 2
    # The abandoned runner of attempt 1 reports late: nothing changes.
    assert not job_checkpoint_record(job_id=job.id, worker="w", attempt=1, data=[1])
    assert not job_progress_record(
        job_id=job.id, worker="w", attempt=1, pct=50, stage="", message="",
        eta_s=None,
    )  # fmt: skip
    assert job_checkpoint_record(job_id=job.id, worker="w", attempt=2, data=[2])
    job.refresh_from_db()
    assert job.checkpoint == [2] and job.progress_pct is None
