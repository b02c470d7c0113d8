"""Benchmark: 10,000 jobs through ``POST /api/v2/jobs/bulk`` (SPEC §12: < 1 s).

    scripts/bench bulk_submit          (or: make bench NAME=bulk_submit)

Conductor: gunicorn (one sync worker) serves the bench database; one request body of
10,000 ``{"type": "demo.noop", "payload": {"i": n}}`` is POSTed over real HTTP with
httpx, authenticated by an API key made with ``manage.py create_api_key``. The time is
the request's wall time seen by the client (body already encoded): parse, validation,
inserts of jobs and ``job.submitted`` events, commit, response. One small bulk request
warms the gunicorn worker first (imports, first connection); then the median of 5 runs,
the jobs and events deleted between runs.

Baseline, in the same run: the same 10,000 rows written by a plain
``Job.objects.bulk_create`` of 10,000 pre-built ``Job`` objects in this process, in
one transaction, with no validation and no events (median of 5). Prints one JSON line.
"""

import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness as h

JOBS = 10_000
RUNS = 5
TARGET_MS = 1000


def _clean() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE conductor_event, conductor_retryattempt, conductor_jobdependency,"
            " conductor_job RESTART IDENTITY CASCADE"
        )


def _api_key(env: dict) -> str:
    from conductor.models import ApiKey

    ApiKey.objects.filter(name="bench").delete()  # the bench database's own keys only
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_api_key",
            "--name",
            "bench",
            "--scopes",
            "read,write",
        ],
        cwd=h.ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def _wait_http(client, base: str, proc: h.Proc, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.popen.poll() is not None:
            break
        time.sleep(0.1)
    proc.stop()
    raise SystemExit(f"gunicorn did not answer; see {proc.log}")


def conductor_ms(env: dict) -> tuple[list[float], int]:
    import httpx

    key = _api_key(env)
    port = h.free_port()
    base = f"http://127.0.0.1:{port}"
    proc = h.Proc(
        "gunicorn",
        [
            str(h.BIN / "gunicorn"),
            "conductor.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--timeout",
            "120",
        ],
        env,
    )
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
    jobs = [{"type": "demo.noop", "payload": {"i": n}} for n in range(JOBS)]
    body = json.dumps({"jobs": jobs}).encode()
    timings = []
    try:
        with httpx.Client(timeout=120) as client:
            _wait_http(client, base, proc)
            warm = json.dumps({"jobs": jobs[:10]}).encode()
            response = client.post(
                f"{base}/api/v2/jobs/bulk", content=warm, headers=headers
            )
            if response.status_code != 201:
                detail = response.text[:500]
                raise SystemExit(f"warm-up: {response.status_code} {detail}")
            for run in range(RUNS):
                _clean()
                start = time.perf_counter()
                response = client.post(
                    f"{base}/api/v2/jobs/bulk", content=body, headers=headers
                )
                elapsed = time.perf_counter() - start
                if response.status_code != 201:
                    raise SystemExit(f"{response.status_code} {response.text[:500]}")
                ids = response.json()["data"]["ids"]
                assert len(ids) == JOBS, len(ids)
                timings.append(elapsed * 1000)
                h.note(f"conductor run {run + 1}: {elapsed * 1000:.0f} ms")
    finally:
        proc.stop()
    _check_written()
    return timings, len(body)


def _check_written() -> None:
    from conductor.models import Event, Job

    jobs = Job.objects.count()
    events = Event.objects.filter(type="job.submitted").count()
    if jobs != JOBS or events != JOBS:
        raise SystemExit(f"expected {JOBS} jobs and events, found {jobs} and {events}")


def baseline_ms() -> list[float]:
    from django.db import transaction
    from django.utils import timezone

    from conductor.models import Job, JobType, Priority
    from conductor.states import JobState

    job_type = JobType.objects.get(name="demo.noop")
    timings = []
    for run in range(RUNS):
        _clean()
        now = timezone.now()
        objs = [
            Job(
                id=uuid.uuid4(),
                job_type=job_type,
                payload={"i": n},
                state=JobState.PENDING,
                priority=Priority.NORMAL,
                base_priority=Priority.NORMAL,
                queue=job_type.queue,
                run_at=now,
                max_retries=3,
                timeout_s=30,
                created_at=now,
                updated_at=now,
            )
            for n in range(JOBS)
        ]
        start = time.perf_counter()
        with transaction.atomic():
            Job.objects.bulk_create(objs)
        elapsed = time.perf_counter() - start
        timings.append(elapsed * 1000)
        h.note(f"baseline run {run + 1}: {elapsed * 1000:.0f} ms")
    return timings


def main() -> None:
    env = h.configure()
    h.django_setup()
    from django.db import connection

    load = h.load_1m()

    baseline = baseline_ms()
    connection.close()  # not held open (idle) while gunicorn works
    conductor, body_bytes = conductor_ms(env)
    _clean()
    base_ms, con_ms = statistics.median(baseline), statistics.median(conductor)
    h.emit(
        {
            "bench": "bulk_submit",
            "jobs": JOBS,
            "body_bytes": body_bytes,
            "baseline_ms": round(base_ms, 1),
            "conductor_ms": round(con_ms, 1),
            "ratio": round(con_ms / base_ms, 2),
            "conductor_runs_ms": [round(t) for t in conductor],
            "target_ms": TARGET_MS,
            "load_1m_at_start": load,
            "ok": con_ms < TARGET_MS,
        }
    )


if __name__ == "__main__":
    main()
