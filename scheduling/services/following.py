"""What beat does for schedules on every tick, besides firing them on time.

- ``schedule_runs_settle``: a running run ends when its job (or workflow run) does —
  ``success`` if it succeeded, ``failed`` otherwise — with ``schedule.run_completed``.
- ``schedule_events_follow``: event-driven schedules follow the journal from a stored
  cursor; each matching event fires each schedule once (a unique constraint on
  (schedule, event)), across restarts and with two beats running. Events a schedule's
  own runs wrote never trigger it (no loops).
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q

from conductor.journal import reader
from conductor.journal.catalogue import SCHEDULE_RUN_COMPLETED
from conductor.journal.writer import event_record
from conductor.states import FINAL, JobState
from conductor.workflows.models import WorkflowRun
from scheduling import policies
from scheduling.models import RunStatus, RunTrigger, Schedule, ScheduleRun
from scheduling.services.firing import actor_of, run_start

CURSOR = "scheduling.event_triggers"
BATCH = 500


@transaction.atomic
def schedule_runs_settle(*, now: datetime, limit: int = BATCH) -> int:
    """End the running runs whose job or workflow run has ended; how many."""
    ended = (
        Q(job__state__in=FINAL)
        | Q(workflow_run__isnull=False)
        & ~Q(workflow_run__state=WorkflowRun.State.RUNNING)
        | Q(job__isnull=True, workflow_run__isnull=True)  # the job was pruned
    )
    runs = list(
        ScheduleRun.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(ended, status=RunStatus.RUNNING)
        .select_related("schedule", "job", "workflow_run")[:limit]
    )
    for run in runs:
        _settle(run, now)
    return len(runs)


def _settle(run: ScheduleRun, now: datetime) -> None:
    job, flow = run.job, run.workflow_run
    if job is not None:
        succeeded = job.state == JobState.SUCCEEDED
        run.completed_at = job.finished_at or now
        error = job.error or {}
        run.error = "" if succeeded else (
            f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
            if error else f"the job ended {job.state}"
        )  # fmt: skip
    elif flow is not None:
        succeeded = flow.state == WorkflowRun.State.SUCCEEDED
        run.completed_at = flow.finished_at or now
        run.error = "" if succeeded else f"the workflow run ended {flow.state}"
    else:
        succeeded, run.completed_at = False, now
        run.error = "the run's job no longer exists"
    run.status = RunStatus.SUCCESS if succeeded else RunStatus.FAILED
    start = run.started_at or run.completed_at
    run.execution_time_ms = max(
        0, int((run.completed_at - start).total_seconds() * 1000)
    )
    run.save(update_fields=["status", "completed_at", "error", "execution_time_ms"])
    event_record(
        type=SCHEDULE_RUN_COMPLETED,
        subject=run.schedule,
        actor=actor_of(run.schedule),
        at=now,
        data={
            "name": run.schedule.name, "run": run.id,
            "scheduled_for": run.scheduled_for.isoformat(), "trigger": run.trigger,
            "status": run.status, "execution_time_ms": run.execution_time_ms,
            "error": run.error or None,
        },
    )  # fmt: skip


@transaction.atomic
def schedule_events_follow(*, now: datetime, limit: int = BATCH) -> int:
    """Fire event-driven schedules for the events after the cursor; runs started."""
    cursor = reader.cursor_locked(CURSOR)
    schedules = list(
        Schedule.objects.filter(enabled=True)
        .exclude(event_type="")
        .select_related("workflow")
    )
    if not schedules:  # nothing listens: later schedules see only later events
        latest = reader.latest_event_id()
        if latest > cursor.after:
            cursor.after = latest
            cursor.save(update_fields=["after", "updated_at"])
        return 0
    events = reader.events_after(
        after=cursor.after, types={s.event_type for s in schedules}, limit=limit
    )
    started = 0
    for event in events:
        for schedule in schedules:
            if _fires(schedule, event):
                run = run_start(
                    schedule, scheduled_for=event.created_at, trigger=RunTrigger.EVENT,
                    now=now, actor=actor_of(schedule), event_id=event.id,
                )  # fmt: skip
                started += run is not None
    if events:
        cursor.after = events[-1].id
        cursor.save(update_fields=["after", "updated_at"])
    return started


def _fires(schedule: Schedule, event) -> bool:
    return (
        event.type == schedule.event_type
        and event.created_at >= schedule.armed_at
        and event.actor != actor_of(schedule)
        and policies.event_matches(schedule.event_filter, event.data)
    )
