"""Why isn't this job running? (pure)"""

from datetime import UTC, datetime, timedelta

from conductor.explain import Facts, explain

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def codes(**kw):
    base = {
        "state": "pending",
        "now": NOW,
        "run_at": NOW,
        "attempts": 0,
        "max_retries": 3,
        "workers_seen": 1,
    }
    return [r["code"] for r in explain(Facts(**{**base, **kw}))]


def test_due_job_is_queued_with_its_position():
    reasons = explain(
        Facts(
            state="pending",
            now=NOW,
            run_at=NOW,
            attempts=0,
            max_retries=3,
            ahead=7,
            workers_seen=2,
        )
    )
    assert reasons[-1]["code"] == "QUEUED" and reasons[-1]["data"]["ahead"] == 7
    assert "7 job(s) are ahead" in reasons[-1]["message"]


def test_each_blocker_is_named():
    later = NOW + timedelta(minutes=5)
    assert codes(run_at=later) == ["SCHEDULED"]
    assert codes(run_at=later, attempts=2) == ["RETRY_SCHEDULED"]
    assert codes(type_paused=True) == ["TYPE_PAUSED", "QUEUED"]
    assert codes(max_concurrency=2, running_of_type=2) == [
        "CONCURRENCY_LIMIT",
        "QUEUED",
    ]
    assert codes(workers_seen=0) == ["NO_WORKERS", "QUEUED"]
    assert codes(state="waiting", dependencies={"x": "running", "y": "succeeded"}) == [
        "WAITING_ON"
    ]
    assert codes(state="parked", breaker="smtp", breaker_until=later) == ["PARKED"]
    assert codes(state="running", locked_by="w1", cancel_requested=True) == [
        "RUNNING",
        "CANCEL_REQUESTED",
    ]
    assert codes(state="succeeded", finished_at=NOW) == ["FINISHED"]


def test_waiting_names_only_the_unfinished_dependencies():
    [reason] = explain(
        Facts(
            state="waiting",
            now=NOW,
            run_at=NOW,
            attempts=0,
            max_retries=3,
            dependencies={"x": "running", "y": "succeeded"},
        )
    )
    assert reason["data"]["dependencies"] == {"x": "running"}
    assert "x (running)" in reason["message"] and "y" not in reason["message"]
