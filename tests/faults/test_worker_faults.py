"""Faults (SPEC §13): kill -9 of a worker mid-batch, Redis restart, PostgreSQL restart.

Every job must end ``succeeded`` with exactly one successful attempt on record.
"""

import time

import pytest
from django.db import connections
from django.db.models import Count, Q

from conductor.models import Event, Job, RetryAttempt
from tests.e2e.conftest import wait_until
from tests.factories import jobs_submitted
from tests.faults.conftest import FAST, postgres, redis_start, redis_stop

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _count(ids, state):
    return Job.objects.filter(id__in=ids, state=state).count()


def _assert_each_succeeded_exactly_once(ids):
    assert _count(ids, "succeeded") == len(ids)
    per_job = (
        RetryAttempt.objects.filter(job_id__in=ids)
        .values("job_id")
        .annotate(ok=Count("id", filter=Q(status="success")))
    )
    assert sorted({row["ok"] for row in per_job}) == [1]
    assert len(per_job) == len(ids)


def test_kill_9_mid_batch_loses_nothing(start_worker, start_beat):
    victim = start_worker("victim", concurrency=1, **FAST)
    ids = jobs_submitted(
        150, type="demo.sleep", payload={"seconds": 0.03}
    )  # one batch of 100 takes about 3 s
    wait_until(lambda: _count(ids, "succeeded") >= 100, timeout=60)
    wait_until(lambda: _count(ids, "running") > 0, timeout=30)
    victim.kill9()
    stranded = _count(ids, "running")
    assert stranded > 0, "the worker died holding jobs"
    start_beat(**FAST)
    start_worker("rescuer", concurrency=2, **FAST)
    wait_until(lambda: _count(ids, "succeeded") == len(ids), timeout=90)
    _assert_each_succeeded_exactly_once(ids)
    expired = Event.objects.filter(type="job.lease_expired", subject_id__in=ids)
    assert expired.count() == stranded


def test_redis_restart_loses_no_job(start_worker, start_beat, api):
    start_beat(**FAST)
    start_worker("w1", **FAST)
    before = jobs_submitted(20, type="demo.sleep", payload={"seconds": 0.0})
    wait_until(lambda: _count(before, "succeeded") == 20, timeout=30)
    redis_stop()
    try:
        # Submitting still works: the doorbell fails quietly, the row is the truth.
        during = [
            api.post_json("/api/v2/jobs", {"type": "demo.noop"}).json()["data"]["id"]
            for _ in range(20)
        ]
    finally:
        redis_start()
    wait_until(lambda: _count(during, "succeeded") == 20, timeout=90)
    after = jobs_submitted(20, type="demo.sleep", payload={"seconds": 0.0})
    wait_until(lambda: _count(after, "succeeded") == 20, timeout=60)
    _assert_each_succeeded_exactly_once(before + during + after)


def test_postgresql_restart_while_workers_run(start_worker, start_beat):
    start_beat(**FAST)
    start_worker("w1", **FAST)
    ids = jobs_submitted(200, type="demo.sleep", payload={"seconds": 0.02})
    wait_until(lambda: _count(ids, "succeeded") >= 20, timeout=60)
    try:
        postgres("restart")
    finally:
        connections.close_all()  # ours died with the server too
    wait_until(lambda: _count(ids, "succeeded") == len(ids), timeout=120)
    _assert_each_succeeded_exactly_once(ids)


def _stranded_by(ids) -> set[str]:
    return set(
        Job.objects.filter(id__in=ids, state="running").values_list(
            "locked_by", flat=True
        )
    )


def test_a_killed_workers_jobs_are_back_within_lease_and_sweep(
    start_worker, start_beat
):
    """With the production defaults (30 s lease, a sweep every 5 s), a worker killed
    with ``kill -9`` has its jobs back in the queue within 35 s."""
    start_beat()
    victim = start_worker("victim", concurrency=1)
    ids = jobs_submitted(20, type="demo.sleep", payload={"seconds": 2})
    wait_until(lambda: _count(ids, "running") == 20, timeout=30)
    victim.kill9()
    killed = time.monotonic()
    wait_until(lambda: _count(ids, "running") == 0, timeout=60, interval=0.25)
    back_s = time.monotonic() - killed
    print(f"\n[fault] kill -9: jobs back in the queue after {back_s:.1f} s")
    assert back_s <= 35 + 1  # lease + sweep, and this test's 0.25 s polling
    assert _count(ids, "pending") == 20


def test_a_worker_restarted_on_the_same_host_takes_the_jobs_back_at_once(
    start_worker,
):
    """No sweeper here: the successor's start alone takes the jobs back, long before
    the 30 s leases would run out."""
    victim = start_worker("victim", concurrency=1)
    ids = jobs_submitted(20, type="demo.sleep", payload={"seconds": 2})
    wait_until(lambda: _count(ids, "running") == 20, timeout=30)
    holders = _stranded_by(ids)
    victim.kill9()
    killed = time.monotonic()
    start_worker("successor", concurrency=1)
    wait_until(lambda: not (_stranded_by(ids) & holders), timeout=30, interval=0.1)
    back_s = time.monotonic() - killed
    print(f"\n[fault] restart on the same host: jobs back after {back_s:.1f} s")
    assert back_s < 15  # the successor's start, not the lease
    wait_until(lambda: _count(ids, "succeeded") == 20, timeout=120)
    _assert_each_succeeded_exactly_once(ids)


def test_postgresql_stopped_for_seconds_mid_batch(start_worker, start_beat):
    env = {"CONDUCTOR_ENGINE_LEASE_S": 10, "CONDUCTOR_ENGINE_SWEEP_INTERVAL_S": 1}
    start_beat(**env)
    start_worker("w1", **env)
    ids = jobs_submitted(200, type="demo.sleep", payload={"seconds": 0.02})
    wait_until(lambda: _count(ids, "succeeded") >= 20, timeout=60)
    try:
        postgres("stop")
        time.sleep(4)
    finally:
        postgres("start")
        connections.close_all()  # ours died with the server
    wait_until(lambda: _count(ids, "succeeded") == len(ids), timeout=120)
    _assert_each_succeeded_exactly_once(ids)
