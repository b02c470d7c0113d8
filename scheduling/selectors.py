"""Reading schedules: lists, one schedule, its history, its next fire times."""

import uuid
from datetime import datetime

from django.db.models import QuerySet

from conductor import secrets
from conductor.errors import NotFound
from scheduling import cron
from scheduling.models import Schedule, ScheduleRun


def schedule_list(
    *, enabled: bool | None = None, target: str | None = None
) -> QuerySet[Schedule]:
    rows = Schedule.objects.select_related("workflow")
    if enabled is not None:
        rows = rows.filter(enabled=enabled)
    if target:
        rows = rows.filter(job_type=target) | rows.filter(workflow__name=target)
    return rows.order_by("name")


def schedule_get(*, id: str) -> Schedule:
    """A schedule by its id (or its name)."""
    rows = Schedule.objects.select_related("workflow", "periodic_task")
    try:
        found = rows.filter(id=uuid.UUID(str(id))).first()
    except ValueError:
        found = rows.filter(name=id).first()
    if found is None:
        raise NotFound(f"no schedule {id!r}")
    return found


def schedule_history(
    *, schedule: Schedule, status: str | None = None
) -> QuerySet[ScheduleRun]:
    runs = ScheduleRun.objects.filter(schedule=schedule)
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-scheduled_for", "-id")


def schedule_preview(
    *, schedule: Schedule, count: int, after: datetime
) -> list[datetime]:
    """The next ``count`` fire times after ``after``, in the schedule's time zone
    (none for an event-driven schedule)."""
    if not schedule.cron:
        return []
    return cron.parse(schedule.cron, schedule.timezone).times(after, count)


def payload_shown(schedule: Schedule) -> dict:
    """The target payload as people may see it: secret values masked."""
    return (
        secrets.shown(schedule.payload, schedule.job_type) if schedule.job_type else {}
    )
