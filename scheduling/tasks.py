"""Celery tasks of schedules: thin calls into the services.

Conductor's beat (``conductor.beat``) runs a schedule's fire in its own process the
moment its PeriodicTask is due; under django-celery-beat's stock scheduler the same
PeriodicTask reaches a worker as this task, and does the same.
"""

from celery import shared_task


@shared_task(name="scheduling.schedule_fire", ignore_result=True)
def schedule_fire(schedule_id: str) -> int:
    from django.utils import timezone

    from scheduling.services import schedule_fire_due

    return len(schedule_fire_due(schedule_id=schedule_id, now=timezone.now()))
