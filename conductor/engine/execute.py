"""Run one claimed job's handler and report what happened (``Ran``). Never raises.

What happens next (retry, dead letter …) is decided afterwards, for the whole batch,
by ``conductor.engine.judge``.

The handler gets a ``JobContext`` wired to the engine: progress (throttled to four
writes a second per job), checkpoints, result files and the cancel flag.
"""

import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from conductor import jsonvalue, registry, secrets
from conductor.engine.claim import ClaimedJob
from conductor.engine.context import JobCancelled, JobContext, JobError
from conductor.outcomes import ErrorInfo, Outcome
from conductor.services import job_checkpoint_record, job_progress_record

PROGRESS_INTERVAL_S = 0.25  # at most four progress writes a second per job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ran:
    """One attempt as it happened: a result, an error, or a stop on request."""

    job: ClaimedJob
    result: Any
    error: ErrorInfo | None
    cancelled: bool
    finished_at: Any
    duration_ms: int
    result_file: str = ""
    result_reference: dict | None = None


@dataclass(frozen=True)
class Finished:
    """One attempt with its decided outcome, ready to be written."""

    job: ClaimedJob
    outcome: Outcome
    finished_at: Any
    duration_ms: int
    result_file: str = ""
    result_reference: dict | None = None
    # Does this attempt tell the job's breaker something? A success does; so does a
    # failure the service is to blame for (retryable); a 4xx-like error does not.
    for_breaker: bool = False


@dataclass
class Attempt:
    """What one running attempt reported besides its result."""

    job: ClaimedJob
    worker: str
    cancel_flag: Callable[[], bool]
    started: float = field(default_factory=time.monotonic)
    result_file: str = ""
    result_reference: dict | None = None
    _last_progress: float = 0.0

    def context(self) -> JobContext:
        return JobContext(
            job_id=self.job.id,
            job_type=self.job.type,
            attempt=self.job.attempt,
            trace_id=self.job.trace_id,
            last_checkpoint=self.job.checkpoint,
            cancel_requested=self.cancel_flag,
            on_progress=self.progress,
            on_checkpoint=self.checkpoint,
            on_file=self.save_file,
            on_reference=self.refer,
        )

    def progress(self, pct: float, stage: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL_S and pct < 100:
            return
        self._last_progress = now
        elapsed = now - self.started
        eta_s = round(elapsed * (100 - pct) / pct, 1) if pct > 0 else None
        try:
            job_progress_record(
                job_id=self.job.id,
                worker=self.worker,
                attempt=self.job.attempt,
                pct=pct,
                stage=stage,
                message=message,
                eta_s=eta_s,
            )
        except DatabaseError as exc:  # progress is advice: the job goes on without it
            log.warning("progress of %s not written: %s", self.job.id, exc)
            close_old_connections()

    def checkpoint(self, data: Any) -> None:
        job_checkpoint_record(
            job_id=self.job.id, worker=self.worker, attempt=self.job.attempt, data=data
        )

    def refer(self, reference: dict) -> None:
        self.result_reference = reference

    def save_file(self, name: str, content: bytes | str, content_type: str) -> str:
        data = content.encode() if isinstance(content, str) else content
        safe = name.replace("/", "_").replace("\\", "_")[:200] or "result"
        path = default_storage.save(f"results/{self.job.id}/{safe}", ContentFile(data))
        self.result_file = path
        return path


def execute(attempt: Attempt) -> Ran:
    job = attempt.job
    result, error, cancelled = None, None, False
    payload, schema = job.payload, None
    try:
        spec = registry.get(job.type)
        if spec.has_secrets:
            payload = secrets.reveal(payload, spec.schema)
            schema = spec.schema
        result = spec.handler(attempt.context(), payload)
        error = _result_error(result)
    except registry.UnknownJobType as exc:
        error = ErrorInfo("UNKNOWN_JOB_TYPE", str(exc), retryable=False)
    except secrets.SecretUnreadable as exc:
        error = ErrorInfo("SECRET_UNREADABLE", str(exc), retryable=False)
    except JobCancelled:
        cancelled = True
    except JobError as exc:
        error = ErrorInfo(
            exc.code, exc.message, traceback.format_exc(), exc.retryable, "JobError"
        )
    except Exception as exc:
        name = type(exc).__name__
        error = ErrorInfo(name, str(exc), traceback.format_exc(), None, name)
    if error is not None and schema is not None:  # an error never quotes a secret
        error = replace(
            error,
            message=secrets.scrubbed(error.message, payload, schema),
            traceback=secrets.scrubbed(error.traceback, payload, schema),
        )
    return finish(attempt, result=result, error=error, cancelled=cancelled)


def finish(
    attempt: Attempt,
    *,
    result: Any = None,
    error: ErrorInfo | None = None,
    cancelled: bool = False,
) -> Ran:
    """The attempt's report (also made by the supervisor for timeouts)."""
    duration_ms = int((time.monotonic() - attempt.started) * 1000)
    return Ran(
        attempt.job, result, clean(error), cancelled, timezone.now(), duration_ms,
        attempt.result_file, attempt.result_reference,
    )  # fmt: skip


def _result_error(result) -> ErrorInfo | None:
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return ErrorInfo(
            "RESULT_INVALID", f"result is not JSON: {exc}", retryable=False
        )
    found = jsonvalue.problems(result, path="result")
    if found:
        message = f"{found[0].field}: {found[0].message}"
        return ErrorInfo("RESULT_INVALID", message, retryable=False)
    return None


def clean(error: ErrorInfo | None) -> ErrorInfo | None:
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
        text(error.exception_class, 200),
    )
