"""Reading core data. Views and tasks read through these functions."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, F, QuerySet, Window
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import RowNumber

from conductor import states
from conductor.errors import NotFound
from conductor.models import (
    Event,
    Heartbeat,
    Job,
    JobType,
    RetryAttempt,
)
from conductor.states import JobState


def job_get(*, id: str | UUID) -> Job:
    try:
        return Job.objects.get(id=id)
    except (Job.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound(f"no job with id {id}") from None


def job_list() -> QuerySet[Job]:
    return Job.objects.all()


def job_counts_by_state() -> dict[str, int]:
    """Every state with its number of jobs (zero for states with none)."""
    counts = dict.fromkeys(states.VALUES, 0)
    rows = Job.objects.order_by().values_list("state").annotate(n=Count("id"))
    counts.update({state: n for state, n in rows})
    return counts


def job_attempts(*, job: Job) -> QuerySet[RetryAttempt]:
    return job.attempt_rows.order_by("attempt_number")


def job_events(*, job: Job) -> QuerySet[Event]:
    return Event.objects.filter(subject_type="job", subject_id=str(job.id)).order_by(
        "id"
    )


def job_type_list() -> QuerySet[JobType]:
    return JobType.objects.order_by("name")


def job_type_names() -> list[str]:
    return list(JobType.objects.values_list("name", flat=True))


def job_type_get(*, name: str) -> JobType:
    try:
        return JobType.objects.get(name=name)
    except JobType.DoesNotExist:
        raise NotFound(f"no job type named {name!r}") from None


def heartbeats_since(*, since: datetime) -> QuerySet[Heartbeat]:
    return Heartbeat.objects.filter(seen_at__gte=since).order_by("name")


def due_queues(*, now: datetime) -> list[str]:
    """Queues holding at least one pending job whose time has come."""
    due = Job.objects.filter(state=JobState.PENDING, run_at__lte=now)
    return list(due.order_by().values_list("queue", flat=True).distinct())


# --- lists, stats, explain -----------------------------------------------------------

PAYLOAD_PREFIX = "payload."


@dataclass(frozen=True)
class JobFilters:
    types: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    finished_after: datetime | None = None
    finished_before: datetime | None = None
    run_at_after: datetime | None = None
    run_at_before: datetime | None = None
    parent: str | None = None
    workflow_run: str | None = None
    payload: tuple[tuple[str, Any], ...] = ()  # (dotted path, value)


_RANGES = {
    "created_after": "created_at__gte",
    "created_before": "created_at__lt",
    "finished_after": "finished_at__gte",
    "finished_before": "finished_at__lt",
    "run_at_after": "run_at__gte",
    "run_at_before": "run_at__lt",
}


def jobs_filtered(*, filters: JobFilters) -> QuerySet[Job]:
    jobs = Job.objects.all()
    if filters.types:
        jobs = jobs.filter(job_type__in=filters.types)
    if filters.states:
        jobs = jobs.filter(state__in=filters.states)
    if filters.priorities:
        jobs = jobs.filter(base_priority__in=filters.priorities)
    for name, lookup in _RANGES.items():
        if getattr(filters, name) is not None:
            jobs = jobs.filter(**{lookup: getattr(filters, name)})
    if filters.parent:
        jobs = jobs.filter(parent_id=filters.parent)
    if filters.workflow_run:
        jobs = jobs.filter(workflow_run_id=filters.workflow_run)
    for index, (path, value) in enumerate(filters.payload):
        # Each path is an expression of key transforms, compared by exact equality:
        # no segment is ever read as a lookup (``regex``, ``isnull`` …).
        key: Any = "payload"
        for segment in path.split("."):
            key = KeyTransform(segment, key)
        jobs = jobs.alias(**{f"payload_{index}": key}).filter(
            **{f"payload_{index}__exact": value}
        )
    return jobs


def job_dependencies(*, job: Job) -> QuerySet[Job]:
    return Job.objects.filter(dependent_rows__job=job).order_by("created_at")


def job_dependents(*, job: Job) -> QuerySet[Job]:
    return Job.objects.filter(dependency_rows__depends_on=job).order_by("created_at")


@dataclass(frozen=True)
class RunTimeStats:
    samples: int
    avg_ms: float | None
    p95_ms: float | None


STATS_SAMPLE = 500
STATS_DAYS = 7


def job_type_stats(*, names: list[str], now: datetime) -> dict[str, RunTimeStats]:
    """Average and 95th percentile run time of each type's last successful attempts
    (at most ``STATS_SAMPLE`` per type, from the last ``STATS_DAYS`` days): one query
    for all the types asked about."""
    ranked = (
        RetryAttempt.objects.filter(
            job__job_type__in=names,
            status=RetryAttempt.Status.SUCCESS,
            finished_at__gte=now - timedelta(days=STATS_DAYS),
            duration_ms__isnull=False,
        )
        .annotate(
            type=F("job__job_type"),
            rank=Window(
                RowNumber(), partition_by=F("job__job_type"),
                order_by=F("finished_at").desc(),
            ),
        )
        .filter(rank__lte=STATS_SAMPLE)
        .values_list("type", "duration_ms")
    )  # fmt: skip
    samples: dict[str, list[int]] = {name: [] for name in names}
    for name, duration in ranked:
        samples[name].append(duration)
    return {name: _run_time(durations) for name, durations in samples.items()}


def _run_time(durations: list[int]) -> RunTimeStats:
    if not durations:
        return RunTimeStats(0, None, None)
    durations = sorted(durations)
    p95 = durations[min(len(durations) - 1, math.ceil(0.95 * len(durations)) - 1)]
    return RunTimeStats(len(durations), round(sum(durations) / len(durations), 1), p95)


def job_progress(*, job: Job, now: datetime) -> dict[str, Any]:
    """Progress with an ETA: time so far * what is left / what is done."""
    eta_s = None
    pct = job.progress_pct
    if job.state == JobState.RUNNING and pct and job.attempt_started_at and pct < 100:
        elapsed = (now - job.attempt_started_at).total_seconds()
        eta_s = round(max(elapsed, 0) * (100 - pct) / pct, 1)
    return {
        "pct": pct,
        "stage": job.progress_stage,
        "message": job.progress_message,
        "eta_s": eta_s,
        "updated_at": job.updated_at,
    }
