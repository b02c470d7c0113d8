"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz``.

``/readyz`` is 200 only when the database and the broker answer. To a signed-in staff
user it also says why (each check's detail, the last beat heartbeat, the workers seen
recently); to anyone else only ready or not — error texts and host names are no one
else's business.
"""

import time
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from conductor import selectors


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:300]


def check_broker() -> tuple[bool, str]:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            if settings.CELERY_BROKER_URL.startswith("filesystem"):
                settings.BROKER_DIR.mkdir(parents=True, exist_ok=True)
            else:
                conn.default_channel  # noqa: B018 - opens a channel: the broker answers
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"[:300]


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    started = time.monotonic()
    db_ok, db_detail = check_database()
    broker_ok, broker_detail = check_broker()
    ready = db_ok and broker_ok
    body = {"status": "ready" if ready else "not ready"}
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        return JsonResponse(body, status=200 if ready else 503)
    body["checks"] = {
        "database": {"ok": db_ok, "detail": db_detail},
        "broker": {"ok": broker_ok, "detail": broker_detail},
    }
    if db_ok:
        since = timezone.now() - timedelta(minutes=2)
        seen = list(selectors.heartbeats_since(since=since).values_list("name", "kind"))
        body["beat_seen"] = any(kind == "beat" for _, kind in seen)
        body["workers_seen"] = [name for name, kind in seen if kind == "worker"]
    body["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    return JsonResponse(body, status=200 if db_ok and broker_ok else 503)
