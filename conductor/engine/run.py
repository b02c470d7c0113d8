"""Drain a queue: claim a batch, run it under supervision, write it, repeat.

``drain`` is what a doorbell task does. It stops when nothing is due or the time
budget is spent. When a batch comes back full it rings the doorbell once more, so an
idle worker process joins in; when the budget runs out it rings again and returns, so
one queue never holds a worker process forever.
"""

import os
import socket
import time
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from conductor.engine.claim import claim_batch
from conductor.engine.complete import complete_batch
from conductor.engine.judge import judge_batch
from conductor.engine.supervise import run_batch


def worker_name() -> str:
    """``host:pid`` of this process: what running jobs' ``locked_by`` says."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host and has not died.

    A killed process stays in the process table as a zombie until its parent reaps
    it; a worker's pool child killed with its parent waits for PID 1, which may take
    a second or more. ``kill(pid, 0)`` still finds a zombie, so its state is read too.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return not _exited(pid)


def _exited(pid: int) -> bool:
    """Whether the process has exited but is not reaped yet (Linux's /proc says so;
    where there is no /proc, nobody can tell, and the process counts as alive)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read()
    except (FileNotFoundError, ProcessLookupError):  # reaped since, or no /proc
        return os.path.isdir("/proc/self")
    except OSError:
        return False
    # "pid (comm) state ...": comm may itself hold spaces and parentheses.
    state = fields.rpartition(b")")[2].split()[:1]
    return state in ([b"Z"], [b"X"])  # zombie, or dead


def drain(*, queue: str, ring: Callable[[str], None], worker: str | None = None) -> int:
    """Run due jobs of ``queue`` until none is due or the budget is spent."""
    worker = worker or worker_name()
    limit = settings.CONDUCTOR_ENGINE_BATCH_SIZE
    deadline = time.monotonic() + settings.CONDUCTOR_ENGINE_WAKE_BUDGET_S
    done, helped = 0, False
    while True:
        batch = claim_batch(
            queue=queue,
            worker=worker,
            limit=limit,
            now=timezone.now(),
            lease_s=settings.CONDUCTOR_ENGINE_LEASE_S,
        )
        if not batch:
            return done
        if len(batch) == limit and not helped:
            ring(queue)
            helped = True
        finished = judge_batch(run_batch(batch, worker=worker))
        done += complete_batch(finished=finished, worker=worker, now=timezone.now())
        if time.monotonic() >= deadline:
            ring(queue)
            return done
