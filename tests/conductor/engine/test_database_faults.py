"""The engine when the database fails under it: the lease heartbeat retries and stops
a batch cleanly when it cannot renew, outcomes are retried and then written one by
one, so a bad row or a failed commit drops nothing else."""

import threading
import time

import pytest
from django.db import DataError, OperationalError

from conductor import backends
from conductor.engine import lease
from conductor.models import Job, RetryAttempt
from tests.factories import JobFactory
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db(transaction=True)


class Flaky:
    """Raises ``error`` for the first ``times`` calls (all, if None), then delegates."""

    def __init__(self, real, error, times=None, when=lambda *a, **k: True):
        self.real, self.error, self.left, self.when = real, error, times, when
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.when(*args, **kwargs) and (self.left is None or self.left > 0):
            if self.left is not None:
                self.left -= 1
            raise self.error
        return self.real(*args, **kwargs)


@pytest.fixture
def backend(monkeypatch):
    """The real backend, whose methods a test may replace."""
    real = backends.current()

    class Patched:
        def __getattr__(self, name):
            return getattr(real, name)

    patched = Patched()
    monkeypatch.setattr(backends, "current", lambda: patched)
    return real, patched


def test_a_lease_renewal_that_fails_for_a_moment_is_retried(monkeypatch, settings):
    settings.CONDUCTOR_ENGINE_LEASE_S = 3  # a renewal each second
    extend = Flaky(lease.extend, OperationalError("server closed the connection"), 2)
    monkeypatch.setattr(lease, "extend", extend)
    job = JobFactory(type="demo.sleep", payload={"seconds": 4})
    assert run_due_jobs() == 1
    assert Job.objects.get(id=job.id).state == "succeeded"
    assert extend.calls >= 3  # two failures, then renewals that held


def test_a_batch_whose_leases_cannot_be_renewed_stops_cleanly(monkeypatch, settings):
    settings.CONDUCTOR_ENGINE_LEASE_S = 3
    extend = Flaky(lease.extend, OperationalError("the database is gone"))
    monkeypatch.setattr(lease, "extend", extend)
    job = JobFactory(type="demo.sleep", payload={"seconds": 30})
    after = JobFactory()
    started = time.monotonic()
    assert run_due_jobs() == 0  # nothing written: no outcome was reached
    # It gave up before the leases ran out (3 s), not after the handler's 30 s ...
    assert time.monotonic() - started < 6
    # ... and started nothing more: the next job was never run.
    job.refresh_from_db()
    assert job.state == "running"  # left for the sweeper once its lease ends
    assert Job.objects.get(id=after.id).state == "running"
    assert Job.objects.get(id=after.id).attempt_started_at is None
    assert not RetryAttempt.objects.filter(status="success").exists()


def test_a_failed_commit_of_the_outcomes_is_retried(backend):
    real, patched = backend
    patched.jobs_complete = Flaky(
        real.jobs_complete, OperationalError("connection lost"), times=2
    )
    jobs = JobFactory.create_batch(5)
    assert run_due_jobs() == 5
    assert patched.jobs_complete.calls == 3
    assert set(Job.objects.filter(id__in=[j.id for j in jobs]).values_list(
        "state", flat=True)) == {"succeeded"}  # fmt: skip
    assert RetryAttempt.objects.filter(status="success").count() == 5


def test_one_outcome_that_cannot_be_stored_drops_no_other(backend):
    real, patched = backend
    good = JobFactory.create_batch(3)
    bad = JobFactory(max_retries=0)
    patched.jobs_complete = Flaky(
        real.jobs_complete, DataError("value too long"),
        when=lambda rows, **_: any(
            r.id == str(bad.id) and r.state == "succeeded" for r in rows
        ),
    )  # fmt: skip
    assert run_due_jobs() == 4
    assert set(Job.objects.filter(id__in=[j.id for j in good]).values_list(
        "state", flat=True)) == {"succeeded"}  # fmt: skip
    bad.refresh_from_db()
    # Its outcome could not be stored: that failure is what was written instead.
    assert bad.state == "dead" and bad.error["code"] == "OUTCOME_NOT_STORED"
    assert "value too long" in bad.error["message"]


def test_outcomes_wait_out_a_short_outage(backend):
    real, patched = backend
    down = threading.Event()
    down.set()

    def complete(*args, **kwargs):
        if down.is_set():
            raise OperationalError("the database is restarting")
        return real.jobs_complete(*args, **kwargs)

    patched.jobs_complete = complete
    threading.Timer(1.5, down.clear).start()  # back after a second and a half
    JobFactory.create_batch(3)
    assert run_due_jobs() == 3
    assert RetryAttempt.objects.filter(status="success").count() == 3
