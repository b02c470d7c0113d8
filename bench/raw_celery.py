"""The baseline for ``bench/engine.py``: raw Celery, one INSERT + commit per task.

A minimal Celery app with Celery's defaults (no Django): the broker is the bench
Redis database, the queue ``rawbench``, no result backend. Each worker process opens
one psycopg connection when it starts; the task does one
``INSERT INTO bench_raw (n) VALUES (%s)`` and commits. The table is created by the
bench.

    celery -A bench.raw_celery worker -c 2 -Q rawbench --without-gossip --without-mingle
"""

import os

import psycopg
from celery import Celery, signals

QUEUE = "rawbench"

app = Celery(
    "raw_celery",
    broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
    # The bench process also holds Conductor's app: leave that one current, so
    # Conductor's doorbells keep going to Conductor's queue.
    set_as_current=False,
    # Raw Celery: no Django fixup, even when DJANGO_SETTINGS_MODULE is in the
    # environment (it would set Django up and log every task through Django's logging).
    fixups=[],
)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    result_backend=None,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=True,
)

_conn: psycopg.Connection | None = None


def _connect() -> psycopg.Connection:
    from urllib.parse import urlsplit

    u = urlsplit(os.environ["DATABASE_URL"])
    return psycopg.connect(
        host=u.hostname or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        dbname=u.path.lstrip("/"),
    )


@signals.worker_process_init.connect
def _open_connection(**_kwargs) -> None:
    global _conn
    _conn = _connect()


@signals.worker_ready.connect
def _announce(**_kwargs) -> None:
    # Printed (not logged) so the bench sees it at any log level.
    print("rawbench ready", flush=True)


@app.task(name="rawbench.insert", ignore_result=True)
def insert(n: int) -> None:
    global _conn
    if _conn is None:  # --pool solo: no worker_process_init
        _conn = _connect()
    with _conn.cursor() as cursor:
        cursor.execute("INSERT INTO bench_raw (n) VALUES (%s)", (n,))
    _conn.commit()
