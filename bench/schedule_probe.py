"""The baseline for ``bench/schedule_punctuality.py``: plain Celery beat and a crontab.

A minimal Celery app with Celery's defaults (no Django) whose beat (Celery's own
``PersistentScheduler``) holds ``PROBES`` entries on ``crontab()`` — every minute —
each sending the trivial task ``bench.schedule_probe`` to Conductor's queue. Conductor's
worker imports this module (``--include bench.schedule_probe``), so the probes wait in
line with the doorbells of a busy worker, as a schedule fired by a worker-run task
would. Beat stamps each probe with the time it sent it; the task records that and when
its body started (epoch seconds) in a Redis list: the minute it was due is the sent
time's minute (plain beat sends within a second of it), however late it runs.

    celery -A bench.schedule_probe beat -s var/bench/probe-beat
"""

import os
import time

import redis
from celery import Celery, shared_task, signals
from celery.schedules import crontab

QUEUE = "conductor"  # Conductor's worker queue (CELERY_TASK_DEFAULT_QUEUE)
STARTS = "bench:schedule_probe:starts"
PROBES = int(os.environ.get("CONDUCTOR_BENCH_PROBES", "100"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9")

app = Celery(
    "schedule_probe",
    broker=REDIS_URL,
    # Conductor's worker imports this module: leave its app the current one.
    set_as_current=False,
    fixups=[],  # plain Celery: no Django
)
app.conf.update(
    timezone="UTC",
    enable_utc=True,
    task_ignore_result=True,
    result_backend=None,
    broker_connection_retry_on_startup=True,
    beat_schedule={
        f"probe-{n:03d}": {
            "task": "bench.schedule_probe",
            "schedule": crontab(),
            "options": {"queue": QUEUE},
        }
        for n in range(PROBES)
    },
)

_redis: redis.Redis | None = None


@signals.before_task_publish.connect
def _stamp(sender=None, body=None, **_kwargs) -> None:
    if sender == "bench.schedule_probe":
        body[1]["sent"] = time.time()  # protocol 2: (args, kwargs, embed)


@shared_task(name="bench.schedule_probe", ignore_result=True)
def probe(sent: float = 0.0) -> None:
    started = time.time()
    global _redis
    _redis = _redis or redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    _redis.rpush(STARTS, f"{sent!r} {started!r}")


def lateness_ms(record: bytes) -> tuple[float, float]:
    """The minute a recorded probe was due (epoch seconds), and how late it ran."""
    sent, started = (float(v) for v in record.split())
    due = sent // 60 * 60
    return due, (started - due) * 1000
