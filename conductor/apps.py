from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class ConductorConfig(AppConfig):
    name = "conductor"
    verbose_name = "Conductor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from conductor import (
            celery,  # noqa: F401 - the Celery app, and the doorbell wired to it
            checks,  # noqa: F401 - registers the system checks
        )

        # Job types are registered in code: each app's ``jobs`` module is imported.
        autodiscover_modules("jobs")
