"""Benchmark: how late retries start after their ``retry_at`` (SPEC §12: within 1 s).

    scripts/bench retry_punctuality    (or: make bench NAME=retry_punctuality)

One Celery worker of 2 processes (``-c 2``) and one beat with the default tick
(``CONDUCTOR_ENGINE_TICK_S`` = 0.5 s), on the bench PostgreSQL database and Redis /9.
Every job is submitted with ``job_submit``, one per transaction, so each commit rings
its own doorbell. Three phases, tables emptied between them:

- baseline, the doorbell round trip: 200 ``demo.noop`` jobs at 100/s. Lateness of a
  job = its attempt's ``started_at`` - its ``run_at`` (set at submit, due at once):
  commit, Redis, the worker's pickup and the claim, no tick involved.
- retries (the headline): 1,000 ``demo.flaky`` jobs (``fail_rate`` 1,
  ``max_retries`` 1, policy ``fixed`` 2,000 ms, no jitter) at 100/s, so their single
  retries come due continuously for ~10 s while submits go on. Nothing sends a
  message for a retry: a drain that a doorbell or the tick started finds it due.
  Lateness = attempt 2's ``started_at`` - attempt 1's ``retry_at`` (both
  ``RetryAttempt`` columns, both from the worker's clock).
- tick only: 5 rounds of 40 such jobs at 20/s, each round waiting for the last one;
  a round's retries come due in the 2 s after its submits stopped, when nothing but
  the tick rings a doorbell. Same lateness.

Each retry phase waits until all its jobs are ``dead`` and checks the record: two
attempts and one dead letter per job, no attempt 2 before its ``retry_at``. The tick
runs inside beat (``conductor.beat``), every ``CONDUCTOR_ENGINE_TICK_S``.

Prints one JSON line; ``ok`` when the record is complete and the p99 of both retry
phases is under 1,000 ms.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness as h

RETRIES = 1_000
BASELINE_JOBS = 200
RATE_PER_S = 100
ROUNDS, ROUND_JOBS, ROUND_RATE_PER_S = 5, 40, 20
DELAY_MS = 2_000
TARGET_P99_MS = 1_000
AIM_P99_MS = 250
CONCURRENCY = 2
POLL_S = 0.1
RUN_TIMEOUT_S = 120
POLICY = {"strategy": "fixed", "initial_delay_ms": DELAY_MS, "jitter": 0}

_RETRY_LATENESS_SQL = """
SELECT EXTRACT(EPOCH FROM (second.started_at - first.retry_at)) * 1000
FROM conductor_retryattempt AS first
JOIN conductor_retryattempt AS second
  ON second.job_id = first.job_id AND second.attempt_number = 2
WHERE first.attempt_number = 1
"""
_PICKUP_LATENESS_SQL = """
SELECT EXTRACT(EPOCH FROM (a.started_at - j.run_at)) * 1000
FROM conductor_retryattempt AS a JOIN conductor_job AS j ON j.id = a.job_id
WHERE a.attempt_number = 1
"""
_RECORD_SQL = """
SELECT count(*) FILTER (WHERE n = 2), count(*),
       (SELECT count(*) FROM recovery_deadletter)
FROM (SELECT job_id, count(*) AS n FROM conductor_retryattempt GROUP BY job_id) AS j
"""
_COUNT_SQL = "SELECT count(*) FROM conductor_job WHERE state = %s"


def _clean(db) -> None:
    db.execute(
        "TRUNCATE conductor_event, conductor_retryattempt, conductor_jobdependency, "
        "recovery_resubmission, recovery_deadletter, conductor_job "
        "RESTART IDENTITY CASCADE"
    )


def _percentile(values: list[float], pct: int) -> float:
    """Nearest rank: the smallest value with at least pct % of values at or below."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil, in integers
    return ordered[rank - 1]


def _summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_ms": round(_percentile(values, 50), 1),
        "p90_ms": round(_percentile(values, 90), 1),
        "p99_ms": round(_percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
        "min_ms": round(min(values), 1),
    }


class Run:
    """The bench database, the worker and beat, and the phases run against them."""

    def __init__(self, db, procs: list[h.Proc]):
        self.db, self.procs = db, procs

    def check_alive(self, what: str) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise SystemExit(f"{what}: {proc.name} exited; see {proc.log}")

    def submit_paced(self, requests: list, rate_per_s: int, what: str) -> float:
        """One ``job_submit`` (a transaction, a doorbell) every 1/rate s; the span."""
        from conductor.services import job_submit

        start = time.perf_counter()
        for n, request in enumerate(requests):
            pause = start + n / rate_per_s - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            job_submit(request=request, actor="bench")
            if n % rate_per_s == 0:
                self.check_alive(what)
        return time.perf_counter() - start

    def wait_for(self, state: str, count: int, what: str) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while (done := self.db.execute(_COUNT_SQL, (state,)).fetchone()[0]) < count:
            self.check_alive(what)
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: {done} of {count} after {RUN_TIMEOUT_S} s")
            time.sleep(POLL_S)

    def lateness(self, sql: str) -> list[float]:
        return [float(row[0]) for row in self.db.execute(sql).fetchall()]

    def baseline(self) -> dict:
        from conductor.services import JobRequest

        h.note(f"baseline: {BASELINE_JOBS} demo.noop jobs at {RATE_PER_S}/s")
        requests = [
            JobRequest(type="demo.noop", payload={"i": n}) for n in range(BASELINE_JOBS)
        ]
        span = self.submit_paced(requests, RATE_PER_S, "baseline")
        self.wait_for("succeeded", BASELINE_JOBS, "baseline")
        values = self.lateness(_PICKUP_LATENESS_SQL)
        return {"what": "doorbell round trip", **_summary(values), "span_s": span}

    def retries(self) -> dict:
        h.note(f"retries: {RETRIES} demo.flaky jobs at {RATE_PER_S}/s")
        span = self.submit_paced(_flaky(RETRIES), RATE_PER_S, "retries")
        self.wait_for("dead", RETRIES, "retries")
        return self._result(RETRIES, span)

    def tick_only(self) -> dict:
        h.note(f"tick only: {ROUNDS} rounds of {ROUND_JOBS} at {ROUND_RATE_PER_S}/s")
        span = 0.0
        for n in range(1, ROUNDS + 1):
            span += self.submit_paced(_flaky(ROUND_JOBS), ROUND_RATE_PER_S, "tick")
            self.wait_for("dead", ROUND_JOBS * n, "tick only")
        return self._result(ROUNDS * ROUND_JOBS, span)

    def _result(self, jobs: int, span: float) -> dict:
        values = self.lateness(_RETRY_LATENESS_SQL)
        twice, total, letters = self.db.execute(_RECORD_SQL).fetchone()
        early = sum(v < 0 for v in values)
        complete = twice == total == letters == jobs and early == 0
        record = {"jobs": total, "with_2_attempts": twice, "dead_letters": letters,
                  "early": early, "complete": complete}  # fmt: skip
        return {**_summary(values), "span_s": round(span, 2), "record": record}


def _flaky(count: int) -> list:
    from conductor.services import JobRequest

    return [
        JobRequest(
            type="demo.flaky",
            payload={"fail_rate": 1},
            max_retries=1,
            retry_policy=POLICY,
        )
        for _ in range(count)
    ]


def main() -> None:
    env = h.configure()
    h.django_setup()
    load = h.load_1m()
    import psycopg
    from django.conf import settings

    db = psycopg.connect(**h.psycopg_conninfo(), autocommit=True)
    _clean(db)
    worker = h.celery_worker(
        "retry_worker", "conductor", "conductor", env, concurrency=CONCURRENCY
    )
    beat_args = [str(h.BIN / "celery"), "-A", "conductor", "beat", "-l", "info"]
    beat = h.Proc("retry_beat", beat_args, env)
    run = Run(db, [worker, beat])
    try:
        worker.wait_for(" ready.")
        beat.wait_for("beat: Starting")
        time.sleep(2)  # beat's first ticks; the pool processes warm
        baseline = run.baseline()
        h.note(f"baseline: {baseline}")
        _clean(db)
        retries = run.retries()
        h.note(f"retries: {retries}")
        _clean(db)
        quiet = run.tick_only()
        h.note(f"tick only: {quiet}")
    finally:
        beat.stop()
        worker.stop()
    _clean(db)
    db.close()

    complete = retries["record"]["complete"] and quiet["record"]["complete"]
    tick_s = settings.CONDUCTOR_ENGINE_TICK_S
    h.emit(
        {
            "bench": "retry_punctuality",
            "retries": retries["n"],
            "p50_ms": retries["p50_ms"],
            "p90_ms": retries["p90_ms"],
            "p99_ms": retries["p99_ms"],
            "max_ms": retries["max_ms"],
            "target_p99_ms": TARGET_P99_MS,
            "aim_p99_ms": AIM_P99_MS,
            "baseline": {**baseline, "span_s": round(baseline["span_s"], 2)},
            "tick_only": {k: v for k, v in quiet.items() if k != "record"},
            "tick_s": tick_s,
            "submit_span_s": retries["span_s"],
            "record": {"retries": retries["record"], "tick_only": quiet["record"]},
            "load_1m_at_start": load,
            "ok": complete
            and retries["p99_ms"] < TARGET_P99_MS
            and quiet["p99_ms"] < TARGET_P99_MS,
        }
    )


if __name__ == "__main__":
    main()
