"""System checks: bad configuration stops start-up with a message naming the variable.

``settings.py`` never raises on a bad value; it records it in
``CONDUCTOR_CONFIG_ERRORS``, and these checks turn each record into an error.
Django runs them before ``runserver``/``migrate``/``check``; the Celery worker and
beat run them at start through ``raise_on_errors``.
"""

from cryptography.fernet import Fernet
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from conductor.errors import ValidationFailed
from recovery import backoff


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


@checks.register(checks.Tags.security, deploy=False)
def check_secrets_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every key of ``CONDUCTOR_SECRETS_KEYS`` must be a Fernet key."""
    errors = []
    for index, key in enumerate(settings.CONDUCTOR_SECRETS_KEYS):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(checks.Error(
                f"CONDUCTOR_SECRETS_KEYS: key {index + 1} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)",
                hint="Make one with python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                id="conductor.E004",
            ))  # fmt: skip
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_secrets_keys_deploy(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """In production secret payload values need keys of their own: derived from
    ``SECRET_KEY``, they would be lost with it and rotate with it."""
    if settings.CONDUCTOR_SECRETS_KEYS:
        return []
    return [checks.Warning(
        "CONDUCTOR_SECRETS_KEYS is empty: secret payload values are sealed with a key "
        "derived from SECRET_KEY",
        hint="Set CONDUCTOR_SECRETS_KEYS to Fernet keys (see .env.example).",
        id="conductor.W001",
    )]  # fmt: skip


# Environment variables behind the global default retry policy, by policy field.
_RETRY_VARIABLES = {
    "initial_delay_ms": "CONDUCTOR_RETRY_INITIAL_DELAY_MS",
    "max_delay_ms": "CONDUCTOR_RETRY_MAX_DELAY_MS",
    "strategy": "CONDUCTOR_RETRY_STRATEGY",
    "backoff_multiplier": "CONDUCTOR_RETRY_MULTIPLIER",
    "jitter": "CONDUCTOR_RETRY_JITTER",
    "max_retries": "CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES",
}


@checks.register(checks.Tags.compatibility, deploy=False)
def check_retry_defaults(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """The global default retry policy must be a valid policy (bounds of SPEC §3)."""
    values = {
        "initial_delay_ms": settings.CONDUCTOR_RETRY_INITIAL_DELAY_MS,
        "max_delay_ms": settings.CONDUCTOR_RETRY_MAX_DELAY_MS,
        "strategy": settings.CONDUCTOR_RETRY_STRATEGY,
        "backoff_multiplier": settings.CONDUCTOR_RETRY_MULTIPLIER,
        "jitter": settings.CONDUCTOR_RETRY_JITTER,
    }
    try:
        backoff.Policy.from_dict(values, prefix="")
    except ValidationFailed as exc:
        return [
            checks.Error(
                f"{_RETRY_VARIABLES.get(e.field, e.field)}: {e.message}",
                hint="Fix the retry defaults in the environment (see .env.example).",
                id="conductor.E003",
            )
            for e in exc.errors
        ]
    return []


def _secret_key() -> str:
    try:
        return settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        return ""


def raise_on_errors() -> None:
    """For processes Django's command runner does not start (Celery worker, beat)."""
    import django
    from django.apps import apps

    # Celery's Django fixup has set Django up already. Setting it up again would run
    # the LOGGING config again, after beat pointed sys.stderr at Celery's logging
    # proxy: the console handler would then write into the logger it serves, and
    # Celery's recursion guard drops every record — beat logged nothing after start.
    if not apps.ready:
        django.setup()
    errors = check_environment() + check_retry_defaults()
    if errors:
        raise ImproperlyConfigured("; ".join(e.msg for e in errors))
