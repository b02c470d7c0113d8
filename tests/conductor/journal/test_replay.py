"""A job's state can be rebuilt from its journal (SPEC §2): a busy run — successes,
retries, dead letters, dependencies released and failed, workflow skips, cancels,
resumes, manual retries, DLQ resubmits, parking behind a breaker, a lease taken back —
then every job is rebuilt from its events alone and compared with its row."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conductor import services
from conductor.engine.sweep import reclaim
from conductor.engine.tick import tick
from conductor.journal.replay import rebuilt
from conductor.models import Event, Job
from conductor.workflows import services as workflows
from recovery import services as recovery
from recovery.models import DeadLetter
from recovery.services import BreakerReport
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import DOOMED, JobFactory
from tests.worker import claim, run_due_jobs

pytestmark = pytest.mark.django_db

REASON = "an operator changed their mind"


def _busy_run() -> None:
    now = timezone.now()
    ok = JobFactory()
    JobFactory(type="test.fail_first", max_retries=2)  # fails once, then succeeds
    dead = JobFactory(type="demo.flaky", payload=DOOMED, max_retries=1)
    JobFactory(depends_on=(str(ok.id),))  # released when ok succeeds
    JobFactory(depends_on=(str(dead.id),))  # fails with its dependency (abort)
    JobFactory(depends_on=(str(dead.id),), on_dependency_failure="continue")
    later = JobFactory(run_at=now + timedelta(days=1))
    cancelled = JobFactory(run_at=now + timedelta(days=1))
    services.job_cancel(job_id=cancelled.id, reason=REASON, actor="op")
    resumed = JobFactory(run_at=now + timedelta(days=1))
    services.job_cancel(job_id=resumed.id, reason=REASON, actor="op")
    services.job_resume(job_id=resumed.id, actor="op")
    workflows.workflow_run(definition={"nodes": [
        {"id": "a", "type": "test.echo", "payload": {"ok": True}},
        {"id": "b", "type": "demo.noop", "depends_on": ["a"],
         "condition": {"node": "a", "path": "ok", "op": "eq", "value": False}},
        {"id": "c", "type": "test.fail", "depends_on": ["a"],
         "compensate": {"type": "test.echo"}},
    ]}, actor="op")  # fmt: skip
    run_due_jobs()
    del later

    recovery.job_retry(job_id=dead.id, actor="op", reason=REASON)
    entry = DeadLetter.objects.filter(resolution="").first()
    recovery.dead_letter_resubmit(dead_letter_id=entry.id, reason=REASON, actor="op")

    # parked behind an open breaker, then taken back from a worker that vanished
    recovery.breaker_ensure(service="smtp")
    recovery.breaker_update(service="smtp", changes={"failure_threshold": 1}, actor="t")
    recovery.breaker_record(
        service="smtp", outcomes=[BreakerReport("x", False, True, timezone.now())]
    )
    JobFactory(breaker="smtp")
    tick(now=timezone.now())
    vanished = JobFactory(type="demo.noop")
    claim(worker="gone-worker")
    reclaim(list(Job.objects.filter(id=vanished.id)), now=timezone.now())
    run_due_jobs()


def test_every_job_of_a_busy_run_is_rebuilt_from_its_journal():
    _busy_run()
    jobs = list(Job.objects.all())
    kinds = set(Event.objects.values_list("type", flat=True))
    assert {"job.retry_scheduled", "job.dead_lettered", "job.ready", "job.skipped",
            "job.resumed", "job.retried", "job.parked", "job.lease_expired",
            "job.cancelled"} <= kinds  # fmt: skip
    assert len(jobs) >= 15
    for job in jobs:
        events = Event.objects.filter(subject_id=str(job.id)).order_by("id")
        again = rebuilt((e.type, e.data) for e in events)
        assert (again.state, again.attempts) == (job.state, job.attempts), (
            job.job_type_id, [e.type for e in events],
        )  # fmt: skip
