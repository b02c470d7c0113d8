"""Each time-driven schedule owns a django-celery-beat ``PeriodicTask``, armed with a
one-off clocked time: the schedule's next fire time as ``scheduling.cron`` computes
it. Beat's DatabaseScheduler runs it at that time (Conductor's scheduler does so in
its own process, ``conductor.beat``); the fire re-arms it at the next fire time.

Beat's own ``crontab`` never decides a fire time: it reads both restricted day fields
as "and" where cron reads "or", and knows nothing of our DST rules.
"""

import json

from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

from scheduling.models import Schedule

FIRE_TASK = "scheduling.schedule_fire"
TASK_PREFIX = "conductor.schedule:"


def task_name(schedule: Schedule) -> str:
    return f"{TASK_PREFIX}{schedule.name}"


def periodic_task_arm(schedule: Schedule, *, mark: bool = True) -> None:
    """Make the schedule's PeriodicTask say what the schedule says: clocked at its
    next fire time, enabled while the schedule is enabled and has one. Inside the
    caller's transaction; beat reloads its entries when it commits (``mark=False``:
    the caller marks the change once for many)."""
    if not schedule.cron:
        periodic_task_drop(schedule)
        return
    when = schedule.next_execution_at
    active = schedule.enabled and when is not None
    task = schedule.periodic_task
    clocked_time = when or timezone.now()
    if task is None or task.clocked_id is None:
        clocked = ClockedSchedule.objects.create(clocked_time=clocked_time)
        task = PeriodicTask(clocked=clocked)
    elif task.clocked.clocked_time != clocked_time:
        ClockedSchedule.objects.filter(id=task.clocked_id).update(
            clocked_time=clocked_time
        )
    task.name = task_name(schedule)
    task.task = FIRE_TASK
    task.kwargs = json.dumps({"schedule_id": str(schedule.id)})
    task.one_off = True
    task.enabled = active
    task.total_run_count = 0  # re-armed, never used up (see conductor.beat)
    task.description = _description(schedule)
    if task.pk is None:
        task.save()  # marks the beat schedule changed
    else:
        _task_update(task, mark=mark)
    if schedule.periodic_task_id != task.id:
        schedule.periodic_task = task
        Schedule.objects.filter(id=schedule.id).update(periodic_task=task)


def _task_update(task: PeriodicTask, *, mark: bool) -> None:
    """Save a re-armed task in one UPDATE and mark the beat schedule changed once.
    ``PeriodicTask.save`` also checks its name's uniqueness with a query and marks
    the change twice (its pre_save signal, then its save): four queries more in
    each fire, and beat fires the schedules due at one time one after another."""
    task.date_changed = timezone.now()
    fields = ["name", "task", "kwargs", "one_off", "enabled", "total_run_count",
              "description", "date_changed"]  # fmt: skip
    if not task.enabled:
        task.last_run_at = None  # as PeriodicTask.save does
        fields.append("last_run_at")
    PeriodicTask.objects.filter(id=task.id).update(
        **{field: getattr(task, field) for field in fields}
    )
    if mark:
        PeriodicTasks.update_changed()


def _description(schedule: Schedule) -> str:
    when = schedule.next_execution_at
    return f"Conductor schedule {schedule.name}: {schedule.cron} " + (
        f"({schedule.timezone}); next fire {when.isoformat()}" if when else "(paused)"
    )


def periodic_task_drop(schedule: Schedule) -> None:
    task = schedule.periodic_task
    if task is None:
        return
    clocked_id = task.clocked_id
    task.delete()
    if clocked_id is not None:
        ClockedSchedule.objects.filter(id=clocked_id).delete()
    schedule.periodic_task = None
    PeriodicTasks.update_changed()


def periodic_tasks_rearm(schedules: list[Schedule], *, now) -> None:
    """Re-arm the tasks of schedules just fired (their next fire times set), in a
    few statements whatever their number, and mark the beat schedule changed once."""
    armed = [s for s in schedules if s.periodic_task and s.periodic_task.clocked_id]
    clocks, tasks = [], []
    for schedule in armed:
        task, when = schedule.periodic_task, schedule.next_execution_at
        task.clocked.clocked_time = when or now
        task.enabled = schedule.enabled and when is not None
        task.total_run_count, task.date_changed = 0, now
        task.description = _description(schedule)
        clocks.append(task.clocked)
        tasks.append(task)
    ClockedSchedule.objects.bulk_update(clocks, ["clocked_time"])
    PeriodicTask.objects.bulk_update(
        tasks, ["enabled", "total_run_count", "date_changed", "description"]
    )
    for schedule in schedules:
        if schedule not in armed:
            periodic_task_arm(schedule, mark=False)
    PeriodicTasks.update_changed()
