"""Faults (SPEC §13): kill -9 of a worker mid-batch, Redis restart, PostgreSQL restart.

Every job must end ``succeeded`` with exactly one successful attempt on record.
"""

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
