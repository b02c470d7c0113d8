"""Run claimed jobs: call each handler, decide its outcome, write the batch.

``drain`` is what a doorbell task does: claim a batch, run it, write it, repeat
until the queue has nothing due or the time budget is spent. When a batch comes back
full it rings the doorbell once more, so an idle worker process joins in; when the
budget runs out it rings again and returns, so one queue never holds a worker
process forever.
"""

import json
import os
import socket
import time
import traceback
from collections.abc import Callable

from django.conf import settings
from django.utils import timezone

from conductor import jsonvalue, registry
from conductor.engine.claim import ClaimedJob, claim_batch
from conductor.engine.complete import Finished, complete_batch
from conductor.engine.context import JobContext, JobError
from conductor.engine.outcome import ErrorInfo, decide


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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
        finished = [execute(job) for job in batch]
        done += complete_batch(finished=finished, worker=worker, now=timezone.now())
        if time.monotonic() >= deadline:
            ring(queue)
            return done


def execute(job: ClaimedJob) -> Finished:
    """Run one job's handler and decide what happens next. Never raises."""
    started = time.monotonic()
    result, error = None, None
    try:
        spec = registry.get(job.type)
        ctx = JobContext(
            job_id=job.id, job_type=job.type, attempt=job.attempt, trace_id=job.trace_id
        )
        result = spec.handler(ctx, job.payload)
        error = _result_error(result)
    except registry.UnknownJobType as exc:
        error = ErrorInfo("UNKNOWN_JOB_TYPE", str(exc), retryable=False)
    except JobError as exc:
        error = ErrorInfo(exc.code, exc.message, traceback.format_exc(), exc.retryable)
    except Exception as exc:
        error = ErrorInfo(type(exc).__name__, str(exc), traceback.format_exc())
    duration_ms = int((time.monotonic() - started) * 1000)
    now = timezone.now()
    outcome = decide(
        error=_clean(error),
        result=result,
        attempt=job.attempt,
        max_retries=job.max_retries,
        now=now,
    )
    return Finished(job=job, outcome=outcome, finished_at=now, duration_ms=duration_ms)


def _result_error(result) -> ErrorInfo | None:
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return ErrorInfo(
            "RESULT_INVALID", f"result is not JSON: {exc}", retryable=False
        )
    found = jsonvalue.problems(result, path="result")
    if found:
        return ErrorInfo(
            "RESULT_INVALID", f"{found[0].field}: {found[0].message}", retryable=False
        )
    return None


def _clean(error: ErrorInfo | None) -> ErrorInfo | None:
    """Error text goes into the database: strip what PostgreSQL cannot store."""
    if error is None:
        return None

    def text(value: str, limit: int) -> str:
        value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
        return value[:limit]

    return ErrorInfo(
        text(error.code, 100) or "ERROR",
        text(error.message, 4000),
        text(error.traceback, 20000),
        error.retryable,
    )
