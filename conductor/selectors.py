"""Reading core data. Views and tasks read through these functions."""

from datetime import datetime, timedelta
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet

from conductor.errors import NotFound
from conductor.models import Event, Heartbeat, Job, JobType, RetryAttempt
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
    counts = dict.fromkeys(JobState.values, 0)
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


def recent_window(*, now: datetime, seconds: int) -> datetime:
    return now - timedelta(seconds=seconds)
