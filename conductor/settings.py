"""Conductor settings: one module, configured from the environment (12-factor).

Every knob has a development-safe default except secrets. Values that cannot be parsed
do not raise here (that would be a stack trace at import); they are collected in
``CONDUCTOR_CONFIG_ERRORS`` and reported by the system checks in ``conductor.checks``,
which stop start-up with a message naming the variable.
"""

from pathlib import Path
from urllib.parse import urlsplit

import environ

from conductor.environment import ConfigReader

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CONDUCTOR_VAR_DIR", default=str(BASE_DIR / "var")))

# .env in the project (make run writes a development SECRET_KEY there the first time);
# CONDUCTOR_ENV_FILE names another file. Variables already set win over the file.
_read = ConfigReader(
    Path(environ.Env().str("CONDUCTOR_ENV_FILE", default=str(BASE_DIR / ".env")))
)
env = _read.env
CONDUCTOR_CONFIG_ERRORS: dict[str, str] = _read.errors
_typed, _strict_bool = _read.typed, _read.strict_bool
_positive_int, _positive_float = _read.positive_int, _read.positive_float

DEBUG = _typed("DEBUG", _strict_bool, False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY and DEBUG:
    SECRET_KEY = "insecure-development-key-only-for-DEBUG-mode-" + "x" * 20
ALLOWED_HOSTS = _typed(
    "ALLOWED_HOSTS", env.list, ["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = _typed("CSRF_TRUSTED_ORIGINS", env.list, [])

# --- Database -------------------------------------------------------------------------

_SQLITE_DEFAULT = f"sqlite:///{VAR_DIR / 'conductor.sqlite3'}"
DATABASE_URL = env.str("DATABASE_URL", default="") or _SQLITE_DEFAULT
try:
    DATABASES = {"default": _read.database(DATABASE_URL)}
except Exception as exc:
    CONDUCTOR_CONFIG_ERRORS["DATABASE_URL"] = f"cannot parse database URL: {exc}"
    DATABASES = {"default": _read.database(_SQLITE_DEFAULT)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMBEDDED_DATABASE = DATABASES["default"]["ENGINE"].endswith("sqlite3")

# --- Redis / broker -------------------------------------------------------------------

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and urlsplit(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    CONDUCTOR_CONFIG_ERRORS["REDIS_URL"] = (
        f"unsupported scheme in {REDIS_URL!r}; use redis:// or rediss://"
    )
    REDIS_URL = ""
BROKER_DIR = VAR_DIR / "broker"

if not REDIS_URL:
    for _folder in ("queue", "processed", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost/"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {"visibility_timeout": 3600}
    if REDIS_URL
    else {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Kombu's default is ./control, inside whatever directory the process runs in.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "conductor"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "conductor.beat:ConductorScheduler"
CELERY_TIMEZONE = "UTC"

# --- Applications ---------------------------------------------------------------------

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "channels",
    "conductor.apps.ConductorConfig",
    "recovery.apps.RecoveryConfig",
    "scheduling.apps.SchedulingConfig",
    "webhooks.apps.WebhooksConfig",
    "dashboard.apps.DashboardConfig",
]

MIDDLEWARE = [
    "conductor.api.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "conductor.api.middleware.ApiVersionMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "conductor.urls"
WSGI_APPLICATION = "conductor.wsgi.application"
ASGI_APPLICATION = "conductor.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}

CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Auth, i18n, static ---------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

# --- Security (from the environment) --------------------------------------------------

SECURE_SSL_REDIRECT = _typed("SECURE_SSL_REDIRECT", _strict_bool, False)
SESSION_COOKIE_SECURE = _typed("SESSION_COOKIE_SECURE", _strict_bool, False)
CSRF_COOKIE_SECURE = _typed("CSRF_COOKIE_SECURE", _strict_bool, False)
SECURE_HSTS_SECONDS = _typed("SECURE_HSTS_SECONDS", env.int, 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = _typed("SECURE_HSTS_PRELOAD", _strict_bool, False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if _typed("SECURE_PROXY_SSL_HEADER", _strict_bool, False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Bodies larger than this are refused with 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = _positive_int(
    "CONDUCTOR_API_MAX_BODY_BYTES", 32 * 1024 * 1024
)

# --- REST framework / OpenAPI ---------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_VERSIONING_CLASS": "conductor.api.versioning.NegotiatedVersioning",
    "DEFAULT_RENDERER_CLASSES": ["conductor.api.envelope.EnvelopeRenderer"],
    "DEFAULT_PARSER_CLASSES": ["conductor.api.parsers.StrictJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "conductor.api.auth.ApiKeyAuthentication",
        "conductor.api.auth.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["conductor.api.auth.HasScope"],
    "DEFAULT_PAGINATION_CLASS": "conductor.api.envelope.CursorPage",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "conductor.api.envelope.JsonOnlyNegotiation",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "conductor.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "conductor.api.openapi.ConductorAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Conductor API",
    "DESCRIPTION": (
        "Job orchestration and error recovery. Every success response is wrapped in "
        "`{success, data, meta}`; every error is `application/problem+json`."
    ),
    "VERSION": "2",
    "OAS_VERSION": "3.1.0",
    "DEFAULT_GENERATOR_CLASS": "conductor.api.openapi.SingleVersionGenerator",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v2",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Fields named alike in several apps keep stable enum names (without these,
    # recovery's breaker state and dead-letter status rename StateEnum/StatusEnum).
    "ENUM_NAME_OVERRIDES": {
        "StateEnum": "conductor.states.CHOICES",
        "DependencyModeEnum": "conductor.models.DependencyMode",
        "OnDependencyFailureEnum": "conductor.models.DependencyFailure",
        "StrategyEnum": "recovery.models.STRATEGY_CHOICES",
        "StatusEnum": "conductor.models.RetryAttempt.Status",
        "BreakerStateEnum": "recovery.models.CircuitBreaker.State",
        "DeadLetterStatusEnum": "recovery.api.serializers.dlq.DLQ_STATUSES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "conductor.api.openapi.describe_requests",
        "conductor.api.openapi.wrap_in_envelope",
    ],
}

API_KEY_CUSTOM_HEADER = "HTTP_AUTHORIZATION"

# --- Logging --------------------------------------------------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs full URLs at INFO, which may carry tokens in their query strings.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
    },
}

# --- E-mail (email.send, alerts) ------------------------------------------------------
# EMAIL_URL: consolemail:// (default: printed by the worker), smtp://user:pass@host:25,
# smtp+tls://…:587, smtp+ssl://…:465. Used by email.send and Django's own mail.


def _email_url(name, default):
    """Like ``_typed`` but the error never repeats the URL: it may hold a password."""
    try:
        return env.email_url(name, default=default)
    except Exception as exc:
        CONDUCTOR_CONFIG_ERRORS[name] = f"cannot parse the e-mail URL: {exc}"
        return env.email_url_config(default)


_EMAIL = _email_url("EMAIL_URL", "consolemail://")
EMAIL_BACKEND = _EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = _EMAIL.get("EMAIL_HOST") or "localhost"
EMAIL_HOST_USER = _EMAIL.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _EMAIL.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_EMAIL.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_EMAIL.get("EMAIL_USE_SSL"))
EMAIL_PORT = _EMAIL.get("EMAIL_PORT") or (
    465 if EMAIL_USE_SSL else 587 if EMAIL_USE_TLS else 25
)
EMAIL_FILE_PATH = _EMAIL.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="conductor@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Django's SMTP backend waits forever by default; a worker must not.
EMAIL_TIMEOUT = _positive_float("CONDUCTOR_EMAIL_TIMEOUT_S", 30.0)

# --- Conductor product knobs ----------------------------------------------------------

CONDUCTOR_API_VERSIONS = ("2",)
CONDUCTOR_JOBS_PAYLOAD_MAX_BYTES = _positive_int(
    "CONDUCTOR_JOBS_PAYLOAD_MAX_BYTES", 256 * 1024
)
CONDUCTOR_JOBS_DEFAULT_TIMEOUT_S = _positive_int(
    "CONDUCTOR_JOBS_DEFAULT_TIMEOUT_S", 300
)
CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES = _typed(
    "CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES", env.int, 3
)
if not 0 <= CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES <= 100:
    CONDUCTOR_CONFIG_ERRORS["CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES"] = "must be 0 to 100"
    CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES = 3
CONDUCTOR_ENGINE_BATCH_SIZE = _positive_int("CONDUCTOR_ENGINE_BATCH_SIZE", 100)
CONDUCTOR_ENGINE_LEASE_S = _positive_int("CONDUCTOR_ENGINE_LEASE_S", 30)
CONDUCTOR_ENGINE_WAKE_BUDGET_S = _positive_float("CONDUCTOR_ENGINE_WAKE_BUDGET_S", 5.0)
CONDUCTOR_ENGINE_SWEEP_INTERVAL_S = _positive_float(
    "CONDUCTOR_ENGINE_SWEEP_INTERVAL_S", 5.0
)
CONDUCTOR_ENGINE_AGING_S = _positive_int("CONDUCTOR_ENGINE_AGING_S", 60)
CONDUCTOR_JOBS_BULK_MAX = _positive_int("CONDUCTOR_JOBS_BULK_MAX", 10_000)
CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S = _positive_int(
    "CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S", 60
)
CONDUCTOR_ENGINE_TICK_S = _positive_float("CONDUCTOR_ENGINE_TICK_S", 0.2)
# How often beat ends schedule runs whose jobs ended and fires event-driven schedules.
CONDUCTOR_SCHEDULES_FOLLOW_S = _positive_float("CONDUCTOR_SCHEDULES_FOLLOW_S", 1.0)

# Retries: the global default policy (per type and per job policies refine it).
CONDUCTOR_RETRY_INITIAL_DELAY_MS = _positive_int(
    "CONDUCTOR_RETRY_INITIAL_DELAY_MS", 1000
)
CONDUCTOR_RETRY_MAX_DELAY_MS = _positive_int("CONDUCTOR_RETRY_MAX_DELAY_MS", 300_000)
CONDUCTOR_RETRY_STRATEGY = env.str("CONDUCTOR_RETRY_STRATEGY", default="exponential")
CONDUCTOR_RETRY_MULTIPLIER = _positive_float("CONDUCTOR_RETRY_MULTIPLIER", 2.0)
CONDUCTOR_RETRY_JITTER = _typed("CONDUCTOR_RETRY_JITTER", env.float, 0.1)

# Circuit breakers: thresholds of a breaker made on first use.
CONDUCTOR_BREAKER_FAILURE_THRESHOLD = _positive_int(
    "CONDUCTOR_BREAKER_FAILURE_THRESHOLD", 5
)
CONDUCTOR_BREAKER_SUCCESS_THRESHOLD = _positive_int(
    "CONDUCTOR_BREAKER_SUCCESS_THRESHOLD", 1
)
CONDUCTOR_BREAKER_TIMEOUT_MS = _positive_int("CONDUCTOR_BREAKER_TIMEOUT_MS", 30_000)
CONDUCTOR_BREAKER_WINDOW_MS = _positive_int("CONDUCTOR_BREAKER_WINDOW_MS", 60_000)

# Dead letters: resolved entries older than this are removed by the daily cleanup.
CONDUCTOR_DLQ_RETENTION_DAYS = _positive_int("CONDUCTOR_DLQ_RETENTION_DAYS", 30)
# Fernet keys sealing secret payload values at rest (comma list; the first seals, all
# open). Empty: one derived from SECRET_KEY (development only; a deploy check warns).
CONDUCTOR_SECRETS_KEYS = _typed("CONDUCTOR_SECRETS_KEYS", env.list, [])
# Retention (an hourly beat job): finished jobs (with their attempts) and journal
# events older than these many days are removed; dead letters follow their own.
CONDUCTOR_RETENTION_JOBS_DAYS = _positive_int("CONDUCTOR_RETENTION_JOBS_DAYS", 30)
CONDUCTOR_RETENTION_EVENTS_DAYS = _positive_int("CONDUCTOR_RETENTION_EVENTS_DAYS", 30)
# A doorbell message older than this is dropped unread (the tick rings again).
CONDUCTOR_DOORBELL_EXPIRES_S = _positive_float("CONDUCTOR_DOORBELL_EXPIRES_S", 60.0)

CONDUCTOR_API_JSON_MAX_DEPTH = _positive_int("CONDUCTOR_API_JSON_MAX_DEPTH", 64)
CONDUCTOR_DEMO_USERNAME = env.str("DJANGO_SUPERUSER_USERNAME", default="admin")
# Outbound HTTP (conductor.egress): hosts, addresses or CIDR networks the SSRF guard
# lets through although they are loopback/private; empty refuses every such target.
CONDUCTOR_EGRESS_ALLOW_HOSTS = _typed("CONDUCTOR_EGRESS_ALLOW_HOSTS", env.list, [])
# Ports outbound calls may use (hosts in the allow-list may use any).
CONDUCTOR_EGRESS_ALLOW_PORTS = _typed(
    "CONDUCTOR_EGRESS_ALLOW_PORTS", _read.ports, [80, 443, 8080, 8443]
)
CONDUCTOR_EGRESS_TIMEOUT_S = _positive_float("CONDUCTOR_EGRESS_TIMEOUT_S", 15.0)
CONDUCTOR_EGRESS_MAX_RESPONSE_BYTES = _positive_int(
    "CONDUCTOR_EGRESS_MAX_RESPONSE_BYTES", 1024 * 1024
)
CONDUCTOR_EMAIL_MAX_ATTACHMENT_BYTES = _positive_int(
    "CONDUCTOR_EMAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024
)
# email.send: recipients (to + cc + bcc) one job may address.
CONDUCTOR_EMAIL_MAX_RECIPIENTS = _positive_int("CONDUCTOR_EMAIL_MAX_RECIPIENTS", 50)
# email.send sends from DEFAULT_FROM_EMAIL; a payload's from_email is honoured only
# when listed here (addresses, or @domain for a whole domain). Empty: never.
CONDUCTOR_EMAIL_FROM_OVERRIDES = [
    entry.strip().lower()
    for entry in _typed("CONDUCTOR_EMAIL_FROM_OVERRIDES", env.list, [])
    if entry.strip()
]

CELERY_BEAT_SCHEDULE = {
    "conductor.retention_prune": {
        "task": "conductor.retention_prune",
        "schedule": 3600.0,
    },
    "recovery.dlq_cleanup": {
        "task": "recovery.dlq_cleanup",
        "schedule": 6 * 3600.0,
    },
    "conductor.beat_heartbeat": {
        "task": "conductor.beat_heartbeat",
        "schedule": 15.0,
    },
}
