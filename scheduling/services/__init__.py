"""Scheduling's writers: each changes state in one transaction and journals it."""

from scheduling.services.arming import FIRE_TASK, periodic_task_arm
from scheduling.services.bursts import schedules_fire_due
from scheduling.services.firing import schedule_fire_due, schedule_trigger
from scheduling.services.following import schedule_events_follow, schedule_runs_settle
from scheduling.services.schedules import (
    schedule_create,
    schedule_delete,
    schedule_pause,
    schedule_resume,
    schedule_update,
)

__all__ = [
    "FIRE_TASK",
    "periodic_task_arm",
    "schedule_create",
    "schedule_delete",
    "schedule_events_follow",
    "schedule_fire_due",
    "schedule_pause",
    "schedule_resume",
    "schedule_runs_settle",
    "schedule_trigger",
    "schedule_update",
    "schedules_fire_due",
]
