"""Firing schedules: due fire times become runs, exactly once each.

``schedule_fire_due`` is what beat runs when a schedule's PeriodicTask comes due. It
locks the schedule, takes every fire time from ``next_execution_at`` up to now (as
``scheduling.cron`` computes them), lets ``scheduling.policies`` decide which run and
which were missed, writes one ``ScheduleRun`` per fire time — the unique constraint
on (schedule, fire time) makes a second beat's attempt a no-op — and moves
``next_execution_at`` past now. Each run submits its job (or workflow run) in the same
transaction, with an idempotency key of the schedule and fire time: a run, its job
and their events commit together or not at all.
"""

from collections import deque
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction

from conductor import services as jobs
from conductor.errors import DomainError
from conductor.journal.catalogue import SCHEDULE_MISSED, SCHEDULE_TRIGGERED
from conductor.journal.writer import event_record
from conductor.workflows import services as workflows
from scheduling import cron, policies
from scheduling.models import RunStatus, RunTrigger, Schedule, ScheduleRun
from scheduling.services.arming import periodic_task_arm

#: Most fire times looked at after a downtime (every minute for about 70 days).
DUE_SCAN_MAX = 100_000


def actor_of(schedule: Schedule) -> str:
    return f"schedule:{schedule.name}"


def due_times(schedule: Schedule, now: datetime) -> tuple[list[datetime], int]:
    """The latest due fire times (at most what the policies can use) and how many
    were due in all."""
    expression = cron.parse(schedule.cron, schedule.timezone)
    keep = policies.MISSED_ROWS_MAX + schedule.catchup_max + 2  # + on-time ones
    due: deque[datetime] = deque(maxlen=keep)
    after, total = schedule.next_execution_at - timedelta(microseconds=1), 0
    while total < DUE_SCAN_MAX:
        # In UTC: within one zone Python compares wall times, blind to DST folds.
        page = [
            t.astimezone(UTC) for t in expression.between(after, now, cron.MAX_COUNT)
        ]
        due.extend(page)
        total += len(page)
        if len(page) < cron.MAX_COUNT:
            break
        after = page[-1]
    return list(due), total


@transaction.atomic
def schedule_fire_due(*, schedule_id: str, now: datetime) -> list[ScheduleRun]:
    """Fire what is due of one time-driven schedule; the runs written (none when
    another beat did it first, or nothing is due)."""
    schedule = (
        Schedule.objects.select_for_update(of=("self",))
        .select_related("periodic_task__clocked", "workflow")
        .filter(id=schedule_id)
        .first()
    )
    if schedule is None or not schedule.cron:
        return []
    return _fire(schedule, now)


def _fire(schedule: Schedule, now: datetime) -> list[ScheduleRun]:
    """Fire a locked schedule's due fire times and re-arm its task."""
    if not schedule.enabled or schedule.next_execution_at is None:
        periodic_task_arm(schedule)
        return []
    if schedule.next_execution_at > now:
        periodic_task_arm(schedule)  # fired early, or a stale entry
        return []
    due, total = due_times(schedule, now)
    plan = policies.plan(
        due, now=now, catchup=schedule.catchup_policy, catchup_max=schedule.catchup_max
    )
    runs = _missed(schedule, plan.missed, total - len(due), now)
    for scheduled_for in plan.run:
        run = run_start(schedule, scheduled_for=scheduled_for, trigger=RunTrigger.CRON,
                        now=now, actor=actor_of(schedule))  # fmt: skip
        if run is not None:
            runs.append(run)
    schedule.next_execution_at = cron.parse(schedule.cron, schedule.timezone).after(now)
    if plan.run:
        schedule.last_execution_at = now
    schedule.save(
        update_fields=["next_execution_at", "last_execution_at", "updated_at"]
    )
    periodic_task_arm(schedule)
    return runs


def _missed(
    schedule: Schedule, times: list[datetime], uncounted: int, now: datetime
) -> list[ScheduleRun]:
    """Record missed fire times (the latest ``MISSED_ROWS_MAX`` one by one)."""
    if not times:
        return []
    made = ScheduleRun.objects.bulk_create(
        missed_rows(schedule, times, now), ignore_conflicts=True
    )
    event_record(
        type=SCHEDULE_MISSED, subject=schedule, actor=actor_of(schedule), at=now,
        data=missed_data(schedule, times, uncounted),
    )  # fmt: skip
    return made


def missed_rows(
    schedule: Schedule, times: list[datetime], now: datetime
) -> list[ScheduleRun]:
    return [
        ScheduleRun(
            schedule=schedule,
            trigger=RunTrigger.CRON,
            scheduled_for=t,
            status=RunStatus.MISSED,
            completed_at=now,
            error="beat was not running at this fire time",
        )
        for t in times[-policies.MISSED_ROWS_MAX :]
    ]


def missed_data(schedule: Schedule, times: list[datetime], uncounted: int) -> dict:
    """``uncounted``: missed before ``times`` (not looked at one by one)."""
    return {
        "name": schedule.name,
        "count": len(times) + uncounted,
        "first": times[0].isoformat() if not uncounted else None,
        "last": times[-1].isoformat(),
    }


def run_start(
    schedule: Schedule,
    *,
    scheduled_for: datetime,
    trigger: str,
    now: datetime,
    actor: str,
    event_id: int | None = None,
) -> ScheduleRun | None:
    """Write a run and start its target, as the overlap policy says; ``None`` if the
    run exists already (another beat, or this event handled before)."""
    previous = (
        ScheduleRun.objects.filter(schedule=schedule, status=RunStatus.RUNNING)
        .order_by("-scheduled_for", "-id")
        .first()
    )
    try:
        with transaction.atomic():
            run = ScheduleRun.objects.create(
                schedule=schedule, trigger=trigger, scheduled_for=scheduled_for,
                event_id=event_id, status=RunStatus.RUNNING, started_at=now,
                actor=actor,
            )  # fmt: skip
    except IntegrityError:
        return None
    action = policies.overlap_action(
        schedule.overlap_policy, previous_running=previous is not None
    )
    if action == "skip":
        run.status, run.completed_at = RunStatus.SKIPPED, now
        run.error = f"the previous run (#{previous.id}) was still running"
    else:
        after = previous if action == "queue" else None
        _target_start(schedule, run, after=after, actor=actor)
    run.save()
    event_record(
        type=SCHEDULE_TRIGGERED, subject=schedule, actor=actor, at=now,
        data=triggered_data(schedule, run),
    )  # fmt: skip
    return run


def triggered_data(schedule: Schedule, run: ScheduleRun) -> dict:
    """The data of a run's ``schedule.triggered`` event."""
    return {
        "name": schedule.name, "run": run.id,
        "scheduled_for": run.scheduled_for.isoformat(), "trigger": run.trigger,
        "status": run.status, "job": str(run.job_id) if run.job_id else None,
        "workflow_run": str(run.workflow_run_id) if run.workflow_run_id else None,
        "event": run.event_id, "error": run.error or None,
    }  # fmt: skip


def job_request(
    schedule: Schedule, run: ScheduleRun, *, after: ScheduleRun | None, key: str,
    actor: str,
) -> jobs.JobRequest:  # fmt: skip
    """The job a run of a job-target schedule submits (after the previous run's job
    when the overlap policy queues it)."""
    run_at = run.scheduled_for + policies.jitter(
        str(schedule.id), run.scheduled_for, schedule.jitter_s
    )
    return jobs.JobRequest(
        type=schedule.job_type, payload=schedule.payload,
        priority=schedule.priority or None, idempotency_key=key,
        run_at=run_at if schedule.jitter_s else None,
        depends_on=(str(after.job_id),) if after and after.job_id else (),
        on_dependency_failure="continue", id=run.job_id, actor=actor,
    )  # fmt: skip


def _target_start(
    schedule: Schedule, run: ScheduleRun, *, after: ScheduleRun | None, actor: str
) -> None:
    """Submit the run's job or workflow run; a refusal (the type's schema changed, a
    workflow that no longer validates) fails the run, naming why."""
    try:
        with transaction.atomic():
            if schedule.workflow_id:
                run.workflow_run = workflows.workflow_run(
                    workflow=schedule.workflow, actor=actor,
                    priority=schedule.priority or None,
                )  # fmt: skip
                return
            key = f"schedule:{schedule.id}:{run.trigger}:{run.id}"
            request = job_request(schedule, run, after=after, key=key, actor=actor)
            run.job, _ = jobs.job_submit(request=request, actor=actor)
    except DomainError as exc:
        run.status, run.completed_at = RunStatus.FAILED, run.started_at
        problems = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
        run.error = f"{exc.detail} {problems}".strip()[:2000]


@transaction.atomic
def schedule_trigger(*, schedule: Schedule, actor: str, now: datetime) -> ScheduleRun:
    """Run the schedule now (POST …/trigger), whatever its cron says; the overlap
    policy still applies."""
    schedule = Schedule.objects.select_for_update().get(id=schedule.id)
    run = run_start(
        schedule, scheduled_for=now, trigger=RunTrigger.MANUAL, now=now, actor=actor
    )
    schedule.last_execution_at = now
    schedule.save(update_fields=["last_execution_at", "updated_at"])
    return run
