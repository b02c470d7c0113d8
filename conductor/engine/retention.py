"""Retention: old history is pruned, in bounded batches, by a beat job.

- **Jobs** that ended (succeeded, failed, dead, cancelled) more than
  ``CONDUCTOR_RETENTION_JOBS_DAYS`` ago go, with their attempts and dependency rows;
  not a job that still has a dead-letter entry (entries follow the DLQ's own
  retention, ``CONDUCTOR_DLQ_RETENTION_DAYS``, and an open one stays until resolved),
  nor one an unfinished job still waits for (deleting it would release that job).
- **Schedule runs** that ended with a fire time as old go too (a schedule's history
  is as long as its jobs'); a running one stays.
- **Events** older than ``CONDUCTOR_RETENTION_EVENTS_DAYS`` go.
- **Progress events** are coalesced once they are a minute old: of a job's
  ``job.progress`` events within one second only the latest is kept (handlers may
  report four times a second; the journal keeps what a reader needs).

Each batch is its own short transaction of at most ``BATCH`` rows, and a run stops
after ``MAX_BATCHES`` of each kind, so pruning never holds locks for long; what is
left is taken by the next run.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber, TruncSecond

from conductor.journal.catalogue import ENGINE_PRUNED, JOB_PROGRESS
from conductor.journal.writer import event_record
from conductor.models import Event, Job
from conductor.states import ACTIVE, FINAL
from recovery.models import DeadLetter
from scheduling.models import RunStatus, ScheduleRun

BATCH = 1000
MAX_BATCHES = 50
COALESCE_AFTER = timedelta(minutes=1)


def prune(*, now: datetime) -> dict[str, int]:
    """One retention run; how many rows of each kind went."""
    jobs_before = now - timedelta(days=settings.CONDUCTOR_RETENTION_JOBS_DAYS)
    events_before = now - timedelta(days=settings.CONDUCTOR_RETENTION_EVENTS_DAYS)
    counts = {
        "jobs": _in_batches(lambda: _jobs_batch(jobs_before)),
        "schedule_runs": _in_batches(lambda: _runs_batch(jobs_before)),
        "events": _in_batches(lambda: _events_batch(events_before)),
        "progress_events": _in_batches(lambda: _progress_batch(now - COALESCE_AFTER)),
    }
    if any(counts.values()):
        with transaction.atomic():
            event_record(
                type=ENGINE_PRUNED, subject=("engine", "retention"), at=now,
                data={**counts, "jobs_before": jobs_before.isoformat(),
                      "events_before": events_before.isoformat()},
            )  # fmt: skip
    return counts


def _in_batches(batch) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        with transaction.atomic():
            removed = batch()
        total += removed
        if removed < BATCH:
            break
    return total


def _jobs_batch(before: datetime) -> int:
    ids = list(
        Job.objects.filter(state__in=list(FINAL), finished_at__lt=before)
        .exclude(id__in=DeadLetter.objects.values("job_id"))
        .exclude(dependent_rows__job__state__in=list(ACTIVE))
        .order_by("finished_at")
        .values_list("id", flat=True)[:BATCH]
    )
    if ids:
        Job.objects.filter(id__in=ids).delete()
    return len(ids)


def _runs_batch(before: datetime) -> int:
    ids = list(
        ScheduleRun.objects.filter(scheduled_for__lt=before)
        .exclude(status=RunStatus.RUNNING)
        .order_by("scheduled_for")
        .values_list("id", flat=True)[:BATCH]
    )
    if ids:
        ScheduleRun.objects.filter(id__in=ids).delete()
    return len(ids)


def _events_batch(before: datetime) -> int:
    ids = list(
        Event.objects.filter(created_at__lt=before)
        .order_by("id")
        .values_list("id", flat=True)[:BATCH]
    )
    if ids:
        Event.objects.filter(id__in=ids).delete()
    return len(ids)


def _progress_batch(before: datetime) -> int:
    """Progress events that a later one of the same job and second makes redundant."""
    ranked = (
        Event.objects.filter(type=JOB_PROGRESS.name, created_at__lt=before)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("subject_id"), TruncSecond("created_at")],
                order_by=F("id").desc(),
            )
        )
        .filter(rank__gt=1)
        .values_list("id", flat=True)[:BATCH]
    )
    ids = list(ranked)
    if ids:
        Event.objects.filter(id__in=ids).delete()
    return len(ids)
