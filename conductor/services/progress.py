"""What a running handler reports: progress and checkpoints.

Both write only while the reporting worker still holds the job (``state = running``
and ``locked_by``), so a late report from an abandoned attempt changes nothing.
"""

from typing import Any

from django.db import transaction
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from conductor import jsonvalue
from conductor.journal.catalogue import JOB_PROGRESS
from conductor.journal.writer import event_record
from conductor.models import Job
from conductor.states import JobState


def _held(job_id: str, worker: str, attempt: int):
    """The job, while this worker runs this attempt of it (not an earlier one whose
    runner was abandoned, nor one taken back by the sweeper)."""
    return Job.objects.filter(
        id=job_id, state=JobState.RUNNING, locked_by=worker, attempts=attempt
    )


@transaction.atomic
def job_progress_record(
    *,
    job_id: str,
    worker: str,
    attempt: int,
    pct: float,
    stage: str,
    message: str,
    eta_s: float | None,
) -> bool:
    now = timezone.now()
    stage, message = _storable(stage), _storable(message)
    written = _held(job_id, worker, attempt).update(
        progress_pct=pct,
        progress_stage=stage,
        progress_message=message,
        updated_at=now,
        # a report proves the attempt began, even before its start mark is written
        attempt_started_at=Coalesce("attempt_started_at", Now()),
    )
    if written:
        event_record(
            type=JOB_PROGRESS,
            subject=("job", job_id),
            at=now,
            data={"pct": pct, "stage": stage, "message": message, "eta_s": eta_s},
        )
    return bool(written)


def job_checkpoint_record(*, job_id: str, worker: str, attempt: int, data: Any) -> bool:
    if jsonvalue.problems(data, path="checkpoint"):
        raise ValueError(
            "a checkpoint must be storable JSON (no NUL, no lone surrogate)"
        )
    return bool(
        _held(job_id, worker, attempt).update(
            checkpoint=data, updated_at=timezone.now()
        )
    )


def _storable(text: str) -> str:
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
