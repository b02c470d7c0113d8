"""``manage.py sync_job_types``: copy the job types registered in code to the table."""

from django.core.management.base import BaseCommand

from conductor import services


class Command(BaseCommand):
    help = "Sync the job types registered in code into the JobType table."

    def handle(self, *args, **options):
        report = services.job_type_sync(actor="manage.py")
        self.stdout.write(
            f"job types: {len(report.created)} new, {len(report.updated)} updated, "
            f"{len(report.unregistered)} no longer registered"
        )
