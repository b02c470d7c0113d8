"""Why isn't this job running? The facts, gathered; the pure ``conductor.explain``
says it in words.

It lives in the engine because the answer mirrors the claim's rules: a paused type, a
concurrency limit, the queue ahead, an open breaker (recovery), dependencies.
"""

from datetime import datetime, timedelta

from django.db.models import Q

from conductor import explain
from conductor.models import Job
from conductor.selectors import heartbeats_since
from conductor.states import JobState
from recovery import selectors as recovery_selectors


def job_explain(*, job: Job, now: datetime) -> list[dict]:
    job_type = job.job_type
    running = 0
    if job_type.max_concurrency is not None:
        running = Job.objects.filter(job_type=job_type, state=JobState.RUNNING).count()
    facts = explain.Facts(
        state=job.state,
        now=now,
        run_at=job.run_at,
        attempts=job.attempts,
        max_retries=job.max_retries,
        type_paused=job_type.paused,
        max_concurrency=job_type.max_concurrency,
        running_of_type=running,
        ahead=_ahead(job, now) if job.state == JobState.PENDING else 0,
        workers_seen=heartbeats_since(since=now - timedelta(minutes=2))
        .filter(kind="worker")
        .count(),
        dependencies=_dependency_states(job),
        dependency_mode=job.dependency_mode,
        locked_by=job.locked_by,
        lease_expires_at=job.lease_expires_at,
        progress_pct=job.progress_pct,
        cancel_requested=bool(job.cancel_requested_at),
        finished_at=job.finished_at,
        error=job.error,
        breaker=job.breaker,
        breaker_until=_breaker_until(job),
    )
    return explain.explain(facts)


def _breaker_until(job: Job) -> datetime | None:
    """When the job's open breaker may half-open (only asked for parked jobs)."""
    if job.state != JobState.PARKED or not job.breaker:
        return None
    return recovery_selectors.breaker_open_until(service=job.breaker) or job.run_at


def _ahead(job: Job, now: datetime) -> int:
    due = Job.objects.filter(state=JobState.PENDING, queue=job.queue, run_at__lte=now)
    better = Q(priority__gt=job.priority) | Q(
        priority=job.priority, run_at__lt=job.run_at
    )
    return due.filter(better).count()


def _dependency_states(job: Job) -> dict[str, str]:
    rows = job.dependency_rows.values_list("depends_on_id", "depends_on__state")
    return {str(dep): state for dep, state in rows}
