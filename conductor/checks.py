"""System checks: bad configuration stops start-up with a message naming the variable.

``settings.py`` never raises on a bad value; it records it in
``CONDUCTOR_CONFIG_ERRORS``, and these checks turn each record into an error.
Django runs them before ``runserver``/``migrate``/``check``; the Celery worker and
beat run them at start through ``raise_on_errors``.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register(checks.Tags.compatibility, deploy=False)
def check_environment(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = [
        checks.Error(
            f"{name}: {problem}",
            hint=f"Fix the environment variable {name} (see .env.example).",
            id="conductor.E001",
        )
        for name, problem in settings.CONDUCTOR_CONFIG_ERRORS.items()
    ]
    if not settings.DEBUG and not _secret_key():
        errors.append(
            checks.Error(
                "SECRET_KEY: missing; it is required when DEBUG is off",
                hint="Set SECRET_KEY to a long random string (or DEBUG=true locally).",
                id="conductor.E002",
            )
        )
    return errors


def _secret_key() -> str:
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        return ""


def raise_on_errors() -> None:
    """For processes Django's command runner does not start (Celery worker, beat)."""
    import django

    django.setup()
    errors = check_environment()
    if errors:
        raise ImproperlyConfigured("; ".join(e.msg for e in errors))
