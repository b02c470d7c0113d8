"""Recovery's periodic chores (beat)."""

from celery import shared_task


@shared_task(name="recovery.dlq_cleanup", ignore_result=True)
def dlq_cleanup() -> int:
    from django.conf import settings

    from recovery.services import dead_letters_cleanup

    return dead_letters_cleanup(
        older_than_days=settings.CONDUCTOR_DLQ_RETENTION_DAYS, actor="beat"
    )
