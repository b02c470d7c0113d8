"""A worker inside the test process: run due jobs the way a Celery worker's doorbell
task does (claim a batch, run it, write it), without Celery."""

from django.utils import timezone

from conductor.engine.claim import claim_batch
from conductor.engine.complete import complete_batch
from conductor.engine.judge import judge_batch
from conductor.engine.run import drain
from conductor.engine.supervise import run_batch

WORKER = "test-worker"


def run_due_jobs(*, queue: str = "default", worker: str = WORKER) -> int:
    """Run every due job of ``queue`` until none is due; how many were written."""
    return drain(queue=queue, ring=lambda _queue: None, worker=worker)


def one_batch(*, queue: str = "default", worker: str = WORKER, limit: int = 100) -> int:
    """One claim-run-complete round (``run_due_jobs`` would loop on)."""
    batch = claim_batch(
        queue=queue, worker=worker, limit=limit, now=timezone.now(), lease_s=30
    )
    finished = judge_batch(run_batch(batch, worker=worker))
    return complete_batch(finished=finished, worker=worker, now=timezone.now())


def claim(*, queue: str = "default", worker: str = WORKER, limit: int = 100):
    """One claim, as a worker makes it: the jobs now running under ``worker``."""
    return claim_batch(
        queue=queue, worker=worker, limit=limit, now=timezone.now(), lease_s=30
    )
