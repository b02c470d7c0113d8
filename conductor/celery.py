"""The Celery application. Celery only rings the doorbell; the database holds the work.

Worker and beat run as Celery's own programs: ``celery -A conductor worker`` and
``celery -A conductor beat``. Configuration comes from Django settings (``CELERY_*``).
"""

import logging
import os

from celery import Celery, signals
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from conductor import doorbell
from conductor.checks import raise_on_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conductor.settings")

log = logging.getLogger(__name__)

app = Celery("conductor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _send(task: str, args: list) -> None:
    # A doorbell nobody answered in time is stale: the tick has rung again since.
    expires = settings.CONDUCTOR_DOORBELL_EXPIRES_S
    app.send_task(task, args=args, retry=False, expires=expires)


# The core rings the doorbell; here it is wired to Celery.
doorbell.connect(_send)


@signals.worker_ready.connect
def _recover_local_leases(**_kwargs) -> None:
    """A worker that starts where one died takes back that one's jobs at once."""
    try:
        recovered = app.tasks["conductor.leases_recover_local"]()
    except Exception:  # the sweeper will find them when their leases run out
        log.exception("could not recover the leases of dead workers on this host")
        return
    if recovered:
        log.warning("took back %d jobs of dead workers on this host", recovered)


@signals.worker_init.connect
@signals.beat_init.connect
def _check_configuration(**_kwargs) -> None:
    """Refuse to start a worker or beat on bad configuration, naming the variable.

    Celery logs and swallows exceptions raised by signal receivers; SystemExit is not
    an Exception, so it does stop the process.
    """
    try:
        raise_on_errors()
    except ImproperlyConfigured as exc:
        raise SystemExit(f"Conductor configuration error: {exc}") from None
