"""Run in a subprocess on the embedded SQLite database by test_embedded_engine.py.

It exercises the engine's single-writer paths (claim, completion, bulk submit,
dependencies, sweeper) and prints what happened as one JSON line.
"""

import json
import os
import sys
from datetime import timedelta

import django
import time_machine

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor.settings")
django.setup()

from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from conductor import services  # noqa: E402
from conductor.engine import lease  # noqa: E402
from conductor.engine.claim import claim_batch  # noqa: E402
from conductor.engine.run import drain  # noqa: E402
from conductor.engine.sweep import leases_reclaim  # noqa: E402
from conductor.engine.tick import tick  # noqa: E402
from conductor.models import Event, Job, RetryAttempt  # noqa: E402
from conductor.services import JobRequest  # noqa: E402
from recovery.models import CircuitBreaker, DeadLetter  # noqa: E402
from recovery.services import breaker_ensure, breaker_update  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    services.job_type_sync()
    many = services.jobs_submit(
        requests=[JobRequest(type="demo.noop", payload={"i": i}) for i in range(150)],
        materialize=False,
    )
    flaky, _ = services.job_submit(
        request=JobRequest(type="demo.flaky", payload={"fail_rate": 1}, max_retries=0)
    )
    first, _ = services.job_submit(request=JobRequest(type="demo.noop", payload={}))
    child, _ = services.job_submit(
        request=JobRequest(type="demo.noop", payload={}, depends_on=[str(first.id)])
    )
    services.job_submit(request=JobRequest(type="demo.noop", payload={}))
    # A worker claims two jobs, starts the first, and dies.
    started, unstarted = claim_batch(
        queue="default", worker="ghost", limit=2, now=timezone.now(), lease_s=1
    )
    lease.mark_started(ids=[started.id], worker="ghost")
    Job.objects.filter(locked_by="ghost").update(
        lease_expires_at=timezone.now() - timedelta(seconds=5)
    )
    reclaimed_at = timezone.now()
    reclaimed = leases_reclaim(now=reclaimed_at)
    ghost = Job.objects.get(id=started.id)
    backoff_s = (ghost.run_at - reclaimed_at).total_seconds()
    put_back = Job.objects.get(id=unstarted.id)
    put_back_attempts = (put_back.state, put_back.attempts,
                         RetryAttempt.objects.filter(job=put_back).count())  # fmt: skip
    breaker_ensure(service="svc")
    breaker_update(service="svc", changes={"failure_threshold": 1}, actor="test")
    services.job_submit(request=JobRequest(
        type="demo.flaky", payload={"fail_rate": 1}, max_retries=0, breaker="svc"
    ))  # fmt: skip
    done = 0
    # The reclaimed job retries after its backoff: run the drains once it is due.
    with time_machine.travel(ghost.run_at + timedelta(seconds=1), tick=True):
        for _ in range(10):
            done += drain(queue="default", ring=lambda queue: None, worker="embedded")
    blocked, _ = services.job_submit(
        request=JobRequest(type="demo.noop", payload={}, breaker="svc")
    )
    done += drain(queue="default", ring=lambda queue: None, worker="embedded")
    tick(now=timezone.now())
    states = {
        "many": sorted(set(Job.objects.filter(id__in=[i for i, _ in many])
                           .values_list("state", flat=True))),
        "flaky": Job.objects.get(id=flaky.id).state,
        "child": Job.objects.get(id=child.id).state,
        "reclaimed": reclaimed,
        "reclaimed_backoff_s": backoff_s,
        "put_back": put_back_attempts,
        "success_attempts": RetryAttempt.objects.filter(status="success").count(),
        "jobs": Job.objects.count(),
        "submitted_events": Event.objects.filter(type="job.submitted").count(),
        "succeeded_events": Event.objects.filter(type="job.succeeded").count(),
        "lease_expired_events": Event.objects.filter(type="job.lease_expired").count(),
        "ready_events": Event.objects.filter(type="job.ready").count(),
        "dead_letters": DeadLetter.objects.count(),
        "breaker": CircuitBreaker.objects.get(service_name="svc").state,
        "blocked": Job.objects.get(id=blocked.id).state,
        "done": done,
    }  # fmt: skip
    json.dump(states, sys.stdout)


if __name__ == "__main__":
    main()
