"""The engine at work: timeouts, cancel requests, heartbeats, lease expiry, results."""

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connections
from django.utils import timezone

from conductor import services
from conductor.engine import lease
from conductor.engine.claim import claim_batch
from conductor.engine.run import process_alive
from conductor.engine.sweep import leases_reclaim
from conductor.models import Event, Job, RetryAttempt
from tests.factories import JobFactory
from tests.worker import run_due_jobs


def _events(job, type_):
    return Event.objects.filter(subject_type="job", subject_id=str(job.id), type=type_)


@pytest.mark.django_db
def test_a_job_past_its_timeout_fails_while_the_batch_goes_on():
    slow = JobFactory(
        type="demo.sleep", payload={"seconds": 5}, timeout_s=1, max_retries=0
    )
    quick = [JobFactory() for _ in range(3)]
    started = time.monotonic()
    run_due_jobs()
    elapsed = time.monotonic() - started
    slow.refresh_from_db()
    assert slow.state == "dead" and slow.error["code"] == "TIMEOUT"
    assert all(Job.objects.get(id=j.id).state == "succeeded" for j in quick)
    assert elapsed < 4, "the worker must not wait for the overrunning handler"
    attempt = RetryAttempt.objects.get(job=slow)
    assert attempt.status == "failed" and attempt.error_code == "TIMEOUT"
    warning = _events(slow, "job.timeout_warning").get()
    assert warning.data["timeout_s"] == 1 and warning.data["elapsed_s"] >= 0.8


@pytest.mark.django_db
def test_timeout_is_retryable_by_default():
    slow = JobFactory(
        type="demo.sleep", payload={"seconds": 3}, timeout_s=1, max_retries=2
    )
    run_due_jobs()
    slow.refresh_from_db()
    assert slow.state == "pending" and slow.error["code"] == "TIMEOUT"
    assert slow.run_at > timezone.now()


def _drain_in_thread():
    def run():
        try:
            run_due_jobs()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.django_db(transaction=True)
def test_graceful_cancel_reaches_the_running_handler(settings):
    settings.CONDUCTOR_ENGINE_LEASE_S = 3  # heartbeat every second
    job = JobFactory(type="demo.sleep", payload={"seconds": 30})
    thread = _drain_in_thread()
    assert _wait_for(lambda: Job.objects.get(id=job.id).state == "running")
    services.job_cancel(job_id=job.id, reason="not needed any more", actor="ops")
    thread.join(10)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert job.state == "cancelled" and job.cancelled_by == "ops"
    assert job.cancel_reason == "not needed any more"
    assert _events(job, "job.cancel_requested").count() == 1
    assert _events(job, "job.cancelled").get().data["mode"] == "graceful"
    assert RetryAttempt.objects.get(job=job).error_code == "CANCELLED"


@pytest.mark.django_db(transaction=True)
def test_forced_cancel_frees_the_worker_and_keeps_the_cancel(settings):
    settings.CONDUCTOR_ENGINE_LEASE_S = 3
    stubborn = JobFactory(type="demo.sleep", payload={"seconds": 30})
    after = JobFactory()
    thread = _drain_in_thread()
    assert _wait_for(lambda: Job.objects.get(id=stubborn.id).state == "running")
    services.job_cancel(job_id=stubborn.id, reason="stuck", actor="ops", mode="forced")
    stubborn.refresh_from_db()
    assert stubborn.state == "cancelled"  # at once, not when the handler returns
    thread.join(10)
    assert not thread.is_alive()
    stubborn.refresh_from_db()
    assert stubborn.state == "cancelled" and stubborn.locked_by == ""
    assert Job.objects.get(id=after.id).state == "succeeded"
    attempt = RetryAttempt.objects.get(job=stubborn)
    assert attempt.status == "failed" and attempt.error_code == "CANCELLED"


@pytest.mark.django_db
def test_an_expired_lease_puts_the_job_back_and_closes_its_attempt():
    job = JobFactory(max_retries=2)
    claim_batch(
        queue="default", worker="dead-worker", limit=10, now=timezone.now(), lease_s=30
    )
    lease.mark_started(ids=[str(job.id)], worker="dead-worker")  # it began, then died
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(1))
    reclaimed_at = timezone.now()
    assert leases_reclaim(now=reclaimed_at) == 1
    job.refresh_from_db()
    assert job.state == "pending" and job.locked_by == "" and job.attempts == 1
    # A failure like any other: retried after the policy's backoff (1 s ± 10 %),
    # not at once.
    assert timedelta(seconds=0.9) <= job.run_at - reclaimed_at <= timedelta(seconds=1.1)
    assert job.error["code"] == "LEASE_EXPIRED"
    attempt = RetryAttempt.objects.get(job=job)
    assert attempt.status == "failed" and attempt.error_code == "LEASE_EXPIRED"
    assert attempt.retry_at == job.run_at
    event = _events(job, "job.lease_expired").get()
    assert event.data == {
        "worker": "dead-worker", "attempt": 1, "state": "pending", "started": True,
    }  # fmt: skip
    order = list(
        Event.objects.filter(subject_id=str(job.id), id__gte=event.id)
        .order_by("id")
        .values_list("type", flat=True)
    )
    assert order == ["job.lease_expired", "job.failed", "job.retry_scheduled"]
    with time_machine.travel(job.run_at + timedelta(seconds=1), tick=True):
        run_due_jobs()
    job.refresh_from_db()
    assert job.state == "succeeded" and job.attempts == 2
    assert RetryAttempt.objects.filter(job=job, status="success").count() == 1


@pytest.mark.django_db
def test_an_expired_lease_out_of_retries_dead_letters_the_job():
    job = JobFactory(max_retries=0)
    claim_batch(queue="default", worker="dead", limit=10, now=timezone.now(), lease_s=1)
    lease.mark_started(ids=[str(job.id)], worker="dead")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(1))
    leases_reclaim(now=timezone.now())
    job.refresh_from_db()
    assert job.state == "dead" and job.error["code"] == "LEASE_EXPIRED"


@pytest.mark.django_db
def test_a_job_its_worker_never_reached_goes_back_without_using_an_attempt():
    job = JobFactory(max_retries=0)  # no retry to spare
    claim_batch(queue="default", worker="dead", limit=10, now=timezone.now(), lease_s=1)
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(1))
    assert leases_reclaim(now=timezone.now()) == 1
    job.refresh_from_db()
    assert (job.state, job.attempts, job.locked_by) == ("pending", 0, "")
    assert not RetryAttempt.objects.filter(job=job).exists()
    event = _events(job, "job.lease_expired").get()
    assert event.data == {
        "worker": "dead", "attempt": 1, "state": "pending", "started": False,
    }  # fmt: skip
    run_due_jobs()  # its one and only attempt is still there
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("succeeded", 1)
    attempt = RetryAttempt.objects.get(job=job)
    assert (attempt.attempt_number, attempt.status) == (1, "success")


@pytest.mark.django_db
def test_a_live_workers_late_outcome_is_dropped_after_its_lease_was_taken():
    from conductor.engine.complete import complete_batch
    from conductor.engine.execute import Attempt, execute
    from conductor.engine.judge import judge_batch

    job = JobFactory()
    [claimed] = claim_batch(
        queue="default", worker="slow", limit=1, now=timezone.now(), lease_s=1
    )
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(1))
    leases_reclaim(now=timezone.now())
    with time_machine.travel(timezone.now() + timedelta(seconds=5), tick=True):
        run_due_jobs()  # another worker runs it, once its retry is due
    ran = execute(Attempt(job=claimed, worker="slow", cancel_flag=lambda: False))
    finished = judge_batch([ran])
    assert complete_batch(finished=finished, worker="slow", now=timezone.now()) == 0
    assert RetryAttempt.objects.filter(job=job, status="success").count() == 1


@pytest.mark.django_db
def test_a_lost_job_with_a_graceful_cancel_pending_is_cancelled_not_retried():
    job = JobFactory(max_retries=3)
    claim_batch(queue="default", worker="gone", limit=1, now=timezone.now(), lease_s=1)
    services.job_cancel(job_id=job.id, reason="no longer wanted", actor="ops")
    Job.objects.filter(id=job.id).update(lease_expires_at=timezone.now() - timedelta(1))
    assert leases_reclaim(now=timezone.now()) == 1
    job.refresh_from_db()
    # The worker died before its handler saw the request: the cancel still stands.
    assert job.state == "cancelled" and job.cancel_reason == "no longer wanted"
    assert _events(job, "job.lease_expired").get().data["state"] == "cancelled"
    assert _events(job, "job.cancelled").get().data["mode"] == "graceful"
    assert not _events(job, "job.retry_scheduled").exists()
    assert RetryAttempt.objects.get(job=job).error_code == "CANCELLED"


@pytest.mark.django_db
def test_a_worker_starting_takes_back_the_jobs_of_its_dead_predecessors_at_once():
    from conductor.engine.sweep import leases_recover_local

    dead, alive, elsewhere = JobFactory(), JobFactory(), JobFactory()
    for job, worker in ((dead, "box:4000001"), (alive, "box:77"), (elsewhere, "far:5")):
        claim_batch(queue="default", worker=worker, limit=1, now=timezone.now(),
                    lease_s=300)  # fmt: skip
        lease.mark_started(ids=[str(job.id)], worker=worker)
    recovered = leases_recover_local(
        host="box", alive=lambda pid: pid == 77, now=timezone.now()
    )
    assert recovered == 1
    states = {j.id: Job.objects.get(id=j.id).state for j in (dead, alive, elsewhere)}
    # Long before its lease (5 minutes) ends, the dead process's job is back.
    assert states == {dead.id: "pending", alive.id: "running", elsewhere.id: "running"}
    assert _events(dead, "job.lease_expired").get().data["worker"] == "box:4000001"


@pytest.mark.skipif(not hasattr(os, "waitid"), reason="needs waitid (WNOWAIT)")
def test_a_killed_process_not_reaped_yet_is_not_alive():
    """kill(pid, 0) still finds a zombie: a successor must not take it for alive."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert process_alive(child.pid)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped
        assert not process_alive(child.pid)
    finally:
        child.kill()
        child.wait(10)
    assert not process_alive(child.pid)
