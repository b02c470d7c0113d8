"""The doorbell: after a commit, tell a worker that there is work.

A ring carries no job, only "queue Q has due work" (or "look at these waiting jobs
again"); the tables say what the work is. Rings are sent after the transaction commits,
so a worker never looks before the rows are there, and a ring that is lost loses
nothing: the tick and the sweeper find due work from the tables.

The core rings; the project wiring (``conductor.celery``) connects the bell to Celery
with ``connect``, so importing the core never loads Celery. Without a connection (a
script that never loaded the wiring) a ring is logged and dropped.
"""

import logging
from collections.abc import Callable, Sequence

from django.db import transaction

log = logging.getLogger(__name__)

#: Celery task names the bell sends (``conductor.tasks`` defines them).
WAKE = "conductor.jobs_wake"
RESOLVE = "conductor.waiting_resolve"

Send = Callable[[str, list], None]
_send: Send | None = None


def connect(send: Send) -> None:
    """Route rings to ``send(task_name, args)``; called once by the wiring."""
    global _send
    _send = send


def ring(queue: str) -> None:
    """After the current transaction commits: ``queue`` has due work."""
    transaction.on_commit(lambda: _send_now(WAKE, [queue]))


def ring_waiting(job_ids: Sequence[str]) -> None:
    """After the current transaction commits: look at these waiting jobs again (their
    dependencies ended in a way only the engine can act on, e.g. a retry)."""
    ids = [str(job_id) for job_id in job_ids]
    if ids:
        transaction.on_commit(lambda: _send_now(RESOLVE, [ids]))


def _send_now(task: str, args: list) -> None:
    if _send is None:
        log.warning("doorbell not connected; %s %s dropped", task, args)
        return
    try:
        _send(task, args)
    except Exception:
        log.warning("doorbell %s %s not sent; the tick will find it", task, args)
