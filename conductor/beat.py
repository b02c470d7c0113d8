"""Conductor's beat scheduler: django-celery-beat's DatabaseScheduler, plus two things.

1. **The tick and the sweeper run inside beat.** Every ``CONDUCTOR_ENGINE_TICK_S``
   beat itself half-opens due breakers, parks and unparks jobs and rings the doorbell
   for due queues (``conductor.engine.tick``); every
   ``CONDUCTOR_ENGINE_SWEEP_INTERVAL_S`` it takes back the jobs of dead workers and ages
   waiting ones (``conductor.engine.sweep``). Sent as Celery messages, they would wait
   in line behind doorbells whenever workers are busy, and nobody would run them when
   every worker is dead — the very time the sweeper is needed; run here, a retry
   starts within a tick of its ``run_at`` and a dead worker's jobs come back within a
   lease and a sweep, whatever the workers are doing.
2. **Schedules fire in beat too.** A schedule's PeriodicTask (``scheduling.services
   .arming``) is clocked at its next fire time; when it is due, beat fires it here,
   in its own process, instead of sending a message that would wait behind
   doorbells — a fire starts within a tick of its time. The fire re-arms the task,
   so it is never used up (its run count stays 0). Schedules due at the same time
   fire one after another before beat reloads its entries or does its other chores
   (the engine tick excepted), so the last of a hundred is not seconds late; a fire
   that failed (the database restarting) is tried again a second later. Every
   ``CONDUCTOR_SCHEDULES_FOLLOW_S`` beat also ends runs whose jobs ended and fires
   event-driven schedules (``scheduling.services.following``).
3. **Sub-second intervals survive the database.** django-celery-beat stores an
   interval's ``every`` as an integer number of seconds, so 0.5 s became 0 — a busy loop
   after the next reload (django-celery-beat#673). Fractional intervals are stored in
   microseconds instead.
"""

import heapq
import logging
import time
from datetime import UTC, datetime

from celery import schedules as celery_schedules
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_celery_beat import schedulers
from django_celery_beat.models import MICROSECONDS, IntervalSchedule, PeriodicTask

from conductor.engine.sweep import sweep
from conductor.engine.tick import tick
from scheduling import services as schedules

log = logging.getLogger(__name__)
NEVER_CHANGED = datetime.min.replace(tzinfo=UTC)
#: A fire that failed (the database restarting) is tried again this much later.
REFIRE_S = 1.0


class ModelEntry(schedulers.ModelEntry):
    @classmethod
    def to_model_schedule(cls, schedule):
        schedule = celery_schedules.maybe_schedule(schedule)
        seconds = (
            schedule.run_every.total_seconds()
            if isinstance(schedule, celery_schedules.schedule)
            else None
        )
        if seconds is None or seconds == int(seconds):
            return super().to_model_schedule(schedule)
        every = round(seconds * 1_000_000)  # django-celery-beat#673
        model = IntervalSchedule.objects.filter(
            every=every, period=MICROSECONDS
        ).first()
        model = model or IntervalSchedule(every=every, period=MICROSECONDS)
        model.save()
        return model, "interval"

    def __next__(self):
        if self.model.task != schedules.FIRE_TASK:
            return super().__next__()
        # A schedule's task is re-armed by its fire, never used up: counting its
        # runs would let django-celery-beat disable it as a spent one-off.
        self.model.last_run_at = self._default_now()
        self.model.no_changes = True
        return self.__class__(self.model)

    def save(self):
        if self.model.task != schedules.FIRE_TASK:
            return super().save()
        # django-celery-beat saves a whole fresh copy of the row to write the three
        # fields it keeps; a pause or resume committed between its read and its
        # write was undone (a resumed schedule's task stayed disabled for good).
        # Beat owns only the last run time of a schedule's task.
        PeriodicTask.objects.filter(pk=self.model.pk).update(
            last_run_at=self.model.last_run_at
        )
        return None


class ConductorScheduler(schedulers.DatabaseScheduler):
    Entry = ModelEntry

    def __init__(self, *args, **kwargs):
        self._refire: set[str] = set()
        super().__init__(*args, **kwargs)
        self._next_tick = self._next_sweep = self._next_follow = 0.0

    def all_as_schedule(self):
        # Note the change mark before reading the entries: django-celery-beat notes
        # it only at its first check, after its first read, so a schedule made in
        # between (while beat starts) stayed unseen until the 5-minute full reload.
        self._last_timestamp = self.Changes.last_change() or NEVER_CHANGED
        return super().all_as_schedule()

    def schedule_changed(self) -> bool:
        # Each fire re-arms its task, which marks the beat schedule changed; looked
        # at between the fires of a burst, every fire was followed by a reload of
        # every entry, and the 100th of 100 schedules due at 10:00 fired seconds
        # late. Fire every due schedule first, then reload once. Firing from an
        # entry a reload would have changed is safe: the fire reads the schedule's
        # row, locked, and does what it says.
        if self._fire_due_now():
            return False
        changed = super().schedule_changed()
        if self._last_timestamp is None:  # no mark yet: the first one is a change
            self._last_timestamp = NEVER_CHANGED
        return changed

    def _fire_due_now(self) -> bool:
        """Whether the next entry in beat's heap is a schedule's fire, due now."""
        if not self._heap:
            return False
        when, _priority, entry = self._heap[0]
        return entry.task == schedules.FIRE_TASK and when <= time.time()

    def tick(self, *args, **kwargs) -> float:
        wait = super().tick(*args, **kwargs)
        if self._refire:
            self._refire_soon()
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + settings.CONDUCTOR_ENGINE_TICK_S
            self._run("tick", tick)
        if self._fire_due_now():
            return 0.0  # the sweep and the follow-ups wait until the fires are done
        if now >= self._next_sweep:
            self._next_sweep = now + settings.CONDUCTOR_ENGINE_SWEEP_INTERVAL_S
            self._run("sweep", sweep)
        if now >= self._next_follow:
            self._next_follow = now + settings.CONDUCTOR_SCHEDULES_FOLLOW_S
            self._run("schedule runs", schedules.schedule_runs_settle)
            self._run("event triggers", schedules.schedule_events_follow)
        due = min(self._next_tick, self._next_sweep, self._next_follow)
        return max(0.0, min(wait, due - time.monotonic()))

    def apply_entry(self, entry, producer=None):
        if entry.task != schedules.FIRE_TASK:
            return super().apply_entry(entry, producer=producer)
        # Every schedule due now fires with this one, in one transaction; the other
        # entries of the burst then find nothing left to do.
        if not self._run(f"schedule {entry.name}", schedules.schedules_fire_due):
            self._refire.add(entry.name)
        return None

    def _refire_soon(self) -> None:
        """Put entries whose fire failed back in the heap, due in ``REFIRE_S``.
        django-celery-beat keeps a fired clocked entry until its next reload, which
        nothing but the 5-minute full sync brings when the fire could not re-arm
        the task: a database restart at 10:00 fired a lone schedule at 10:05."""
        at = time.time() + REFIRE_S
        self._heap = [
            event._replace(time=at) if event.entry.name in self._refire else event
            for event in self._heap or []
        ]
        heapq.heapify(self._heap)
        self._refire.clear()

    @staticmethod
    def _run(name: str, chore) -> bool:
        close_old_connections()  # a database restart must not stop beat for good
        try:
            chore(now=timezone.now())
        except Exception:
            log.exception("conductor %s failed; trying again next time", name)
            return False
        return True
