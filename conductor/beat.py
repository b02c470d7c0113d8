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
   so it is never used up (its run count stays 0). Every
   ``CONDUCTOR_SCHEDULES_FOLLOW_S`` beat also ends runs whose jobs ended and fires
   event-driven schedules (``scheduling.services.following``).
3. **Sub-second intervals survive the database.** django-celery-beat stores an
   interval's ``every`` as an integer number of seconds, so 0.5 s became 0 — a busy loop
   after the next reload (django-celery-beat#673). Fractional intervals are stored in
   microseconds instead.
"""

import logging
import time
from functools import partial

from celery import schedules as celery_schedules
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_celery_beat import schedulers
from django_celery_beat.models import MICROSECONDS, IntervalSchedule

from conductor.engine.sweep import sweep
from conductor.engine.tick import tick
from scheduling import services as schedules

log = logging.getLogger(__name__)


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


class ConductorScheduler(schedulers.DatabaseScheduler):
    Entry = ModelEntry

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._next_tick = self._next_sweep = self._next_follow = 0.0

    def tick(self, *args, **kwargs) -> float:
        wait = super().tick(*args, **kwargs)
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + settings.CONDUCTOR_ENGINE_TICK_S
            self._run("tick", tick)
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
        schedule_id = entry.kwargs.get("schedule_id")
        self._run(f"schedule {entry.name}", partial(
            schedules.schedule_fire_due, schedule_id=schedule_id
        ))  # fmt: skip
        return None

    @staticmethod
    def _run(name: str, chore) -> None:
        close_old_connections()  # a database restart must not stop beat for good
        try:
            chore(now=timezone.now())
        except Exception:
            log.exception("conductor %s failed; trying again next time", name)
