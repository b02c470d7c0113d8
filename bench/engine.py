"""Benchmark: jobs persisted and executed end to end (SPEC §12: at least 2x raw Celery).

    scripts/bench engine          (or: make bench NAME=engine)

Two runs, one after the other, on the bench PostgreSQL database and Redis /9, each
with one Celery worker of 2 processes (``-c 2``):

- baseline (``bench/raw_celery.py``): 20,000 tasks sent with ``apply_async`` in a loop
  from this process, each task one ``INSERT INTO bench_raw`` + commit on its process's
  own psycopg connection. Clock: first send → the table holds 20,000 rows.
- Conductor: 20,000 ``demo.noop`` jobs submitted with ``jobs_submit`` in chunks of
  2,000 from this process (each chunk one transaction; its commit rings the doorbell),
  run by ``celery -A conductor worker``. Clock: first submit → 20,000 jobs
  ``succeeded``. Then the record is checked: 20,000 successful attempts and 20,000
  each of ``job.submitted``, ``job.started`` and ``job.succeeded`` events.

Progress is polled with a COUNT every 100 ms; each poll also samples VmRSS of every
process of the worker's process group (main process and pool children), keeping each
one's peak. Prints one JSON line.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness as h

JOBS = 20_000
CHUNK = 2_000
CONCURRENCY = 2
TARGET_RATIO = 2.0
RSS_TARGET_MIB = 150
POLL_S = 0.1
RUN_TIMEOUT_S = 150
STALL_S = 20  # no progress for this long: give up, the worker is failing


def _wait_count(count, proc: h.Proc, what: str) -> float:
    """Poll ``count()`` every 100 ms until it reaches JOBS; the moment it did."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    last, moved = -1, time.monotonic()
    while True:
        proc.sample_rss()
        done = count()
        if done >= JOBS:
            return time.perf_counter()
        now = time.monotonic()
        if done != last:
            last, moved = done, now
        if proc.popen.poll() is not None:
            raise SystemExit(f"{what}: the worker exited; see {proc.log}")
        if now > deadline or now - moved > STALL_S:
            raise SystemExit(
                f"{what}: {done} of {JOBS} done, stuck or too slow; see {proc.log}"
            )
        time.sleep(POLL_S)


def _clean(cursor) -> None:
    cursor.execute(
        "TRUNCATE conductor_event, conductor_retryattempt, conductor_jobdependency, "
        "conductor_job, bench_raw RESTART IDENTITY CASCADE"
    )


def run_baseline(env: dict, db) -> dict:
    from bench.raw_celery import insert

    proc = h.celery_worker(
        "raw", "bench.raw_celery", "rawbench", env, loglevel="warning"
    )
    try:
        proc.wait_for("rawbench ready")
        h.note(f"baseline: sending {JOBS} raw Celery tasks")

        def count() -> int:
            return db.execute("SELECT count(*) FROM bench_raw").fetchone()[0]

        start = time.perf_counter()
        for n in range(JOBS):
            insert.apply_async(args=[n])
        sent = time.perf_counter()
        end = _wait_count(count, proc, "baseline")
    finally:
        proc.stop()
    assert count() == JOBS, count()
    return {
        "elapsed_s": end - start,
        "send_s": sent - start,
        "rss_peak_kib": dict(proc.rss_peak),
    }


def run_conductor(env: dict, db) -> dict:
    from conductor.services import JobRequest, jobs_submit

    proc = h.celery_worker("conductor", "conductor", "conductor", env)
    try:
        proc.wait_for(" ready.")
        requests = [JobRequest(type="demo.noop", payload={"i": n}) for n in range(JOBS)]
        h.note(f"conductor: submitting {JOBS} demo.noop jobs in chunks of {CHUNK}")

        def count() -> int:
            sql = "SELECT count(*) FROM conductor_job WHERE state = 'succeeded'"
            return db.execute(sql).fetchone()[0]

        start = time.perf_counter()
        for offset in range(0, JOBS, CHUNK):
            jobs_submit(requests=requests[offset : offset + CHUNK], actor="bench")
            proc.sample_rss()
        submitted = time.perf_counter()
        end = _wait_count(count, proc, "conductor")
        proc.sample_rss()
    finally:
        proc.stop()
    return {
        "elapsed_s": end - start,
        "submit_s": submitted - start,
        "rss_peak_kib": dict(proc.rss_peak),
        "rss_total_peak_kib": proc.rss_total_peak,
        "record": _record(db),
    }


def _record(db) -> dict:
    attempts = db.execute(
        "SELECT count(*) FROM conductor_retryattempt WHERE status = 'success'"
    ).fetchone()[0]
    events = dict(
        db.execute(
            "SELECT type, count(*) FROM conductor_event WHERE type IN "
            "('job.submitted', 'job.started', 'job.succeeded') GROUP BY type"
        ).fetchall()
    )
    return {"success_attempts": attempts, **events}


def main() -> None:
    env = h.configure()
    h.django_setup()
    load = h.load_1m()
    import psycopg

    db = psycopg.connect(**h.psycopg_conninfo(), autocommit=True)
    db.execute("CREATE TABLE IF NOT EXISTS bench_raw (id bigserial PRIMARY KEY, n int)")
    _clean(db.cursor())

    raw = run_baseline(env, db)
    h.note(f"baseline: {raw['elapsed_s']:.2f} s (sending took {raw['send_s']:.2f} s)")
    _clean(db.cursor())
    db.execute("ANALYZE conductor_job")

    con = run_conductor(env, db)
    h.note(
        f"conductor: {con['elapsed_s']:.2f} s (submitting took {con['submit_s']:.2f} s)"
    )
    record = con["record"]
    expected = {
        "success_attempts": JOBS,
        "job.submitted": JOBS,
        "job.started": JOBS,
        "job.succeeded": JOBS,
    }
    complete = all(record.get(k) == v for k, v in expected.items())
    _clean(db.cursor())
    db.close()

    baseline_rate = JOBS / raw["elapsed_s"]
    conductor_rate = JOBS / con["elapsed_s"]
    ratio = conductor_rate / baseline_rate
    peaks = sorted(con["rss_peak_kib"].values(), reverse=True)
    rss_max = h.mib(peaks[0]) if peaks else None
    h.emit(
        {
            "bench": "engine",
            "jobs": JOBS,
            "baseline_jobs_per_s": round(baseline_rate, 1),
            "conductor_jobs_per_s": round(conductor_rate, 1),
            "ratio": round(ratio, 2),
            "target_ratio": TARGET_RATIO,
            "baseline_s": round(raw["elapsed_s"], 2),
            "conductor_s": round(con["elapsed_s"], 2),
            "worker_rss_mib_max": rss_max,
            "worker_rss_mib": [h.mib(k) for k in peaks],
            "worker_rss_mib_total": h.mib(con["rss_total_peak_kib"]),
            "rss_target_mib": RSS_TARGET_MIB,
            "record_complete": complete,
            "load_1m_at_start": load,
            "ok": complete
            and ratio >= TARGET_RATIO
            and rss_max is not None
            and rss_max < RSS_TARGET_MIB,
        }
    )
    if not complete:
        h.note(f"record incomplete: {record}")


if __name__ == "__main__":
    main()
