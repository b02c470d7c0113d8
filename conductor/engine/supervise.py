"""Run a claimed batch under supervision: timeouts, lease heartbeats, cancel requests.

Handlers run one after another in a runner thread; the calling (Celery) thread
watches it:

- every third of the lease it extends the leases of the jobs it still holds and reads
  their cancel requests (graceful: the handler's ``ctx.cancelled`` turns true; forced:
  the job was taken from us, so the runner is abandoned). A database error does not
  stop it: it tries again every second, and if it cannot renew before the leases run
  out it stops the batch cleanly (the cancel flag is raised, nothing more is started,
  and what had not finished is left to the sweeper) instead of letting the runner go
  on with jobs that other workers may soon take;
- the runner marks jobs started a chunk at a time, just before it runs the first job
  of a chunk, so a job the worker never reached (it died first) is taken back without
  using up an attempt; the marks are written by this thread, over its open
  connection (a runner thread would open one per batch), and after a quick chunk the
  rest of the batch is marked at once;
- at 80 % of a job's timeout it journals ``job.timeout_warning``;
- past the timeout it fails the job with ``TIMEOUT`` and abandons the runner thread
  (Python cannot kill a thread; the handler's cancel flag is raised so a cooperative
  handler stops) and goes on with the rest of the batch in a fresh runner.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from conductor.engine import lease
from conductor.engine.claim import ClaimedJob
from conductor.engine.execute import Attempt, Ran, execute, finish
from conductor.outcomes import ErrorInfo

WARN_AT = 0.8
BETWEEN_JOBS_S = 0.05
START_CHUNKS = 4  # a batch is marked started in (up to) four steps
QUICK_CHUNK_S = 0.25  # a chunk done this fast: the rest is marked at once
RETRY_S = 1.0  # after a failed renewal, try again this soon
LOST_AT = 0.8  # give up when this share of the lease passed without a renewal

log = logging.getLogger(__name__)


@dataclass
class Flags:
    """Cancel requests seen by the heartbeat, shared with the runner threads."""

    graceful: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)


class Runner(threading.Thread):
    def __init__(self, jobs: list[ClaimedJob], worker: str, flags: Flags):
        super().__init__(daemon=True, name="conductor-runner")
        self.jobs, self.worker, self.flags = jobs, worker, flags
        self.results: dict[str, Ran] = {}
        self.current: Attempt | None = None
        self.abandoned = False
        self.done = threading.Event()
        self.chunk = max(1, math.ceil(len(jobs) / START_CHUNKS))
        self.marked = 0  # jobs[:marked] are marked started
        self.marked_at = 0.0  # when the last chunk was marked (monotonic)
        # The watcher (the worker's own thread, whose database connection stays
        # open) writes the marks: a runner thread of its own would open and close a
        # connection per batch. ``wake`` calls the watcher; ``answered`` replies.
        self.wake, self.answered = threading.Event(), threading.Event()
        self.mark_request: list[str] | None = None
        self.mark_ok = False

    def run(self) -> None:
        try:
            for index, job in enumerate(self.jobs):
                if self.abandoned:
                    return
                if job.id in self.flags.revoked:
                    continue  # forcibly cancelled before it started: never run it
                if not self._mark_started(index):
                    self.abandoned = True  # nothing runs unmarked: left to the sweeper
                    return
                self.current = self._attempt(job)
                finished = execute(self.current)
                if not self.abandoned:
                    self.results[job.id] = finished
                self.current = None
        finally:
            connections.close_all()  # this thread's connections, if a handler used any
            self.done.set()
            self.wake.set()

    def _mark_started(self, index: int) -> bool:
        """Before the first job of a chunk runs, the chunk is marked started: only a
        job the worker never reached is taken back without using up an attempt.
        False when the mark cannot be written (no job may run unmarked)."""
        if index < self.marked:
            return True
        end = min(index + self.chunk, len(self.jobs))
        if self.marked and time.monotonic() - self.marked_at < QUICK_CHUNK_S:
            end = len(self.jobs)  # quick jobs: the rest in one mark, not three
        self.answered.clear()
        self.mark_request = [job.id for job in self.jobs[index:end]]
        self.wake.set()
        while not self.answered.wait(timeout=0.5):
            if self.abandoned:  # the watcher gave up on us meanwhile
                return False
        if not self.mark_ok:
            return False
        self.marked, self.marked_at = end, time.monotonic()
        return True

    def serve_mark(self) -> None:
        """In the watcher's thread: write the mark the runner waits for, if any."""
        ids, self.mark_request = self.mark_request, None
        if ids is None:
            return
        try:
            lease.mark_started(ids=ids, worker=self.worker)
            self.mark_ok = True
        except DatabaseError as exc:
            log.warning("could not mark jobs started (%s); stopping the batch", exc)
            self.mark_ok = False
        self.answered.set()

    def refuse_mark(self) -> None:
        """The watcher stops watching: a runner waiting for a mark runs nothing more."""
        self.abandoned, self.mark_ok = True, False
        self.answered.set()

    def _attempt(self, job: ClaimedJob) -> Attempt:
        flags = self.flags

        def cancel_flag() -> bool:
            return job.id in flags.graceful or job.id in flags.revoked or self.abandoned

        return Attempt(job=job, worker=self.worker, cancel_flag=cancel_flag)


def run_batch(batch: list[ClaimedJob], *, worker: str) -> list[Ran]:
    """Every job's ``Ran``, except jobs taken from us (forced cancel)."""
    flags, results, remaining = Flags(), {}, list(batch)
    beat = Heartbeat(worker=worker, flags=flags)
    while remaining:
        runner = Runner(remaining, worker, flags)
        runner.start()
        timed_out = _watch(runner, beat)
        results.update(runner.results)
        if timed_out is not None:
            results[timed_out.job.id] = timed_out
        if not runner.abandoned or beat.lost:
            break  # every job went through (skipping revoked ones), or we lost hold
        done = set(results) | flags.revoked
        remaining = [job for job in remaining if job.id not in done]
    return [results[job.id] for job in batch if job.id in results]


def _watch(runner: Runner, beat: "Heartbeat") -> Ran | None:
    """Wait for the runner; return a TIMEOUT outcome if its current job overran."""
    try:
        return _watching(runner, beat)
    finally:
        if not runner.done.is_set() and runner.mark_request is not None:
            runner.refuse_mark()


def _watching(runner: Runner, beat: "Heartbeat") -> Ran | None:
    beat.held = [job.id for job in runner.jobs]
    warned: set[str] = set()
    while True:
        runner.wake.wait(timeout=_next_wake(runner, beat))
        runner.wake.clear()  # before reading the request: a later one wakes us again
        runner.serve_mark()
        if runner.done.is_set():
            return None
        beat.maybe_beat()
        if beat.lost:  # the leases run out and cannot be renewed: stop cleanly
            runner.abandoned = True
            return None
        attempt = runner.current
        if attempt is None:
            continue
        if attempt.job.id in beat.flags.revoked:
            runner.abandoned = True
            return None
        elapsed = time.monotonic() - attempt.started
        if elapsed >= attempt.job.timeout_s:
            runner.abandoned = True
            return finish(attempt, error=_timeout(attempt.job))
        if elapsed >= WARN_AT * attempt.job.timeout_s and attempt.job.id not in warned:
            warned.add(attempt.job.id)
            beat.warn(attempt.job, elapsed)


def _next_wake(runner: Runner, beat: "Heartbeat") -> float:
    wake = min(1.0, beat.due_in())
    attempt = runner.current
    if attempt is None:  # between two jobs: look again soon, the next one's clock runs
        wake = min(wake, BETWEEN_JOBS_S)
    else:
        elapsed = time.monotonic() - attempt.started
        left = attempt.job.timeout_s - elapsed
        warn_left = WARN_AT * attempt.job.timeout_s - elapsed
        wake = min(wake, *(t for t in (left, warn_left) if t > 0), 1.0)
    return max(wake, 0.01)


def _timeout(job: ClaimedJob) -> ErrorInfo:
    message = f"the job ran past its timeout of {job.timeout_s} s"
    return ErrorInfo("TIMEOUT", message, exception_class="TimeoutError")


class Heartbeat:
    """Extends our leases and reads cancel requests, every third of the lease; after a
    database error, every second until it succeeds or the leases are about to end."""

    def __init__(self, *, worker: str, flags: Flags):
        self.worker, self.flags = worker, flags
        self.held: list[str] = []
        self.lease_s = settings.CONDUCTOR_ENGINE_LEASE_S
        self.interval = self.lease_s / 3
        self.wait = self.interval
        self.last = self.renewed = time.monotonic()  # the claim set the leases
        self.lost = False

    def due_in(self) -> float:
        return max(0.0, self.last + self.wait - time.monotonic())

    def maybe_beat(self) -> None:
        if self.due_in() > 0 or not self.held:
            return
        self.last = time.monotonic()
        try:
            close_old_connections()
            graceful, revoked = lease.extend(ids=self.held, worker=self.worker)
        except DatabaseError as exc:
            self.wait = min(RETRY_S, self.interval)
            self.lost = self.last - self.renewed >= LOST_AT * self.lease_s
            then = "stopping the batch" if self.lost else "trying again"
            log.warning("lease renewal failed (%s); %s", exc, then)
            return
        self.wait, self.renewed = self.interval, self.last
        self.flags.graceful |= graceful
        self.flags.revoked |= revoked

    def warn(self, job: ClaimedJob, elapsed: float) -> None:
        try:
            lease.timeout_warning(job=job, worker=self.worker, elapsed_s=elapsed)
        except DatabaseError as exc:  # a warning is not worth stopping for
            log.warning("timeout warning of %s not journalled: %s", job.id, exc)
