"""The schedules due at one time fire together.

At 10:00 a hundred schedules may come due. Fired one by one — a transaction, a job
submit and a re-arm each — the hundredth started a second or more late. Here they
share one transaction: every run is decided in memory (catch-up and overlap as
``scheduling.policies`` says, in fire-time order per schedule), their jobs go in with
one bulk submit, the runs and their events in bulk, the schedules and their beat
tasks in a few statements, and beat's schedule is marked changed once.

Anything the burst cannot do in bulk — a job whose payload no longer suits its type,
a run that exists already — rolls it back, and the same schedules fire one by one
(``firing.schedule_fire_due``), where each refusal is recorded on its own run.
"""

import uuid
from datetime import datetime

from django.db import IntegrityError, transaction

from conductor import services as jobs
from conductor.errors import DomainError
from conductor.journal.catalogue import SCHEDULE_MISSED, SCHEDULE_TRIGGERED
from conductor.journal.writer import NewEvent, events_record
from conductor.workflows import services as workflows
from scheduling import cron, policies
from scheduling.models import RunStatus, RunTrigger, Schedule, ScheduleRun
from scheduling.services import firing
from scheduling.services.arming import periodic_tasks_rearm

#: Most schedules one burst fires.
BURST = 500


def schedules_fire_due(*, now: datetime, limit: int = BURST) -> list[ScheduleRun]:
    """Fire every time-driven schedule that is due (those another beat is firing
    right now are left to it); the runs written."""
    try:
        with transaction.atomic():
            return _burst(now, limit)
    except (DomainError, IntegrityError):
        ids = _due_ids(now, limit)
        return [
            run
            for id_ in ids
            for run in firing.schedule_fire_due(schedule_id=id_, now=now)
        ]


def _due_schedules(now: datetime, limit: int):
    return (
        Schedule.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("periodic_task__clocked", "workflow")
        .filter(enabled=True, next_execution_at__lte=now)
        .exclude(cron="")
        .order_by("next_execution_at", "id")[:limit]
    )


def _due_ids(now: datetime, limit: int) -> list[str]:
    with transaction.atomic():
        return [str(s.id) for s in _due_schedules(now, limit)]


def _burst(now: datetime, limit: int) -> list[ScheduleRun]:
    due = list(_due_schedules(now, limit))
    if not due:
        return []
    running: dict[uuid.UUID, ScheduleRun] = {}
    for run in ScheduleRun.objects.filter(
        schedule__in=due, status=RunStatus.RUNNING
    ).order_by("-scheduled_for", "-id"):
        running.setdefault(run.schedule_id, run)
    missed, runs, requests, events = [], [], [], []
    for schedule in due:
        times, total = firing.due_times(schedule, now)
        plan = policies.plan(times, now=now, catchup=schedule.catchup_policy,
                             catchup_max=schedule.catchup_max)  # fmt: skip
        missed += firing.missed_rows(schedule, plan.missed, now)
        if plan.missed:
            data = firing.missed_data(schedule, plan.missed, total - len(times))
            events.append(NewEvent(SCHEDULE_MISSED, str(schedule.id), data,
                                   firing.actor_of(schedule)))  # fmt: skip
        previous = running.get(schedule.id)
        for scheduled_for in plan.run:
            run = _decided(schedule, scheduled_for, previous, now, requests)
            runs.append(run)
            previous = run if run.status == RunStatus.RUNNING else previous
        schedule.next_execution_at = cron.parse(schedule.cron, schedule.timezone).after(
            now
        )
        schedule.last_execution_at = now if plan.run else schedule.last_execution_at
        schedule.updated_at = now
    if requests:
        jobs.jobs_submit(requests=requests, actor="scheduler", materialize=False)
    ScheduleRun.objects.bulk_create(missed)
    ScheduleRun.objects.bulk_create(runs)
    by_id = {schedule.id: schedule for schedule in due}
    events += [
        NewEvent(SCHEDULE_TRIGGERED, str(run.schedule_id),
                 firing.triggered_data(by_id[run.schedule_id], run), run.actor)
        for run in runs
    ]  # fmt: skip
    events_record(events, at=now)
    Schedule.objects.bulk_update(
        due, ["next_execution_at", "last_execution_at", "updated_at"]
    )
    periodic_tasks_rearm(due, now=now)
    return missed + runs


def _decided(
    schedule: Schedule,
    scheduled_for: datetime,
    previous: ScheduleRun | None,
    now: datetime,
    requests: list,
) -> ScheduleRun:
    """A run of a fire time as the overlap policy has it; its job request added."""
    actor = firing.actor_of(schedule)
    run = ScheduleRun(
        schedule=schedule, trigger=RunTrigger.CRON, scheduled_for=scheduled_for,
        status=RunStatus.RUNNING, started_at=now, actor=actor,
    )  # fmt: skip
    action = policies.overlap_action(
        schedule.overlap_policy, previous_running=previous is not None
    )
    if action == "skip":
        run.status, run.completed_at = RunStatus.SKIPPED, now
        run.error = "the previous run was still running"
    elif schedule.workflow_id:
        run.workflow_run = workflows.workflow_run(
            workflow=schedule.workflow, actor=actor, priority=schedule.priority or None
        )
    else:
        run.job_id = uuid.uuid4()
        key = f"schedule:{schedule.id}:cron:{scheduled_for.isoformat()}"
        after = previous if action == "queue" else None
        requests.append(firing.job_request(schedule, run, after=after, key=key,
                                           actor=actor))  # fmt: skip
    return run
