"""Schemathesis against the API's own OpenAPI document: no 5xx, responses match it.

Every check runs, on every operation. The document says what a request may hold; no
schema can say that an id, a name or a reference in it exists, that a cron expression
parses, nor how two fields relate (``max_delay_ms`` ≥ ``initial_delay_ms``, a workflow
node depends on another node of the same definition, a change to a schedule suits
what is stored). Those requests are made as a real client makes them: each test
starts with seeded objects (jobs in several states, dead letters, retry policies,
error rules, a breaker, a workflow and its run, schedules), and hooks point the ids,
names and references of every *positive* case at seeded objects and mend the
relations between fields. Negative cases are sent as drawn.
"""

import os
import zlib
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from conductor import services
from conductor.engine.context import JobContext, JobError
from conductor.journal import catalogue
from conductor.models import Job
from conductor.registry import job_type
from conductor.services import JobRequest
from conductor.workflows import services as workflow_services
from conductor.wsgi import application
from recovery import backoff
from recovery import services as recovery_services
from recovery.models import DeadLetter, RetryPolicy
from scheduling import services as schedule_services
from scheduling.models import Schedule
from tests.worker import run_due_jobs

#: Examples per operation: 20 in ``make test`` (its time budget); a deeper run sets
#: CONDUCTOR_FUZZ_EXAMPLES (the time grows in proportion).
EXAMPLES = int(os.environ.get("CONDUCTOR_FUZZ_EXAMPLES", "20"))
#: ``make test`` (and CI) draws the same cases every run, from this seed, so a run
#: that passed here passes there; CONDUCTOR_FUZZ_SEED=random draws new ones (deeper,
#: exploring runs, with CONDUCTOR_FUZZ_EXAMPLES).
SEED = os.environ.get("CONDUCTOR_FUZZ_SEED", "20261202")
#: Each /jobs/execute example waits at most this long for a job no worker runs.
EXECUTE_WAIT_S = 0.2
#: Dies at its first attempt: dead letters whose edited payload may be any object.
DOOMED = "test.fuzz_doomed"
#: Cron expressions a client might send (the document cannot say which text parses).
CRONS = (
    "* * * * *", "*/5 * * * *", "0 9 * * mon-fri", "30 2 * * *", "0 9 1 * 1",
    "5,35 */6 * * *", "0 0 29 2 *", "0 12 * JAN,jul Sun", "@hourly", "@daily",
    "@weekly", "@monthly", "@yearly",
)  # fmt: skip


@job_type(
    DOOMED,
    schema={"type": "object"},
    description="Fails for good at once (the fuzz test's dead letters).",
    sample_payload={},
    max_retries=0,
)
def doomed(ctx: JobContext, payload: dict) -> dict:
    raise JobError("FUZZ_DOOMED", "fails on purpose", retryable=False)


# Loading the document needs no database: the schema view is public.
with override_settings(CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S=EXECUTE_WAIT_S):
    schema = schemathesis.openapi.from_wsgi("/api/v2/schema/?format=json", application)

#: What each test seeded: lists of ids or names, by kind (see ``seeded``).
SEEDED: dict[str, list] = {}
#: Path parameters by the path they stand in, and the kind of object they name.
PATH_KINDS = {
    "/api/v2/jobs/{id}": "jobs",
    "/api/v2/dlq/{id}": "dead_letters",
    "/api/v2/breakers/{service}": "breakers",
    "/api/v2/retry-policies/{name}": "policies",
    "/api/v2/error-rules/{id}": "rules",
    "/api/v2/workflows/{name}": "workflows",
    "/api/v2/workflow-runs/{id}": "runs",
    "/api/v2/job-types/{name}": "job_types",
    "/api/v2/schedules/{id}": "schedules",
}


def _pick(kind: str, drawn: Any) -> Any:
    """A seeded object of ``kind``, chosen by the drawn value (so a replay agrees)."""
    return _choose(SEEDED[kind], drawn)


def _choose(options, drawn: Any) -> Any:
    return options[zlib.crc32(repr(drawn).encode()) % len(options)]


# --- seeded objects -------------------------------------------------------------------


def _submit(type_: str, **fields) -> Job:
    job, _new = services.job_submit(
        request=JobRequest(type=type_, payload={}, **fields),
        actor="fuzz",
        named_policies={},
    )
    return job


def _seed() -> dict[str, list]:
    services.job_type_sync(actor="fuzz")
    done = [_submit("demo.noop"), *(_submit(DOOMED) for _ in range(4))]
    run_due_jobs()  # one succeeded job, four dead ones with their dead letters
    pending = _submit("demo.noop")
    cancelled = _submit("demo.noop")
    services.job_cancel(job_id=str(cancelled.id), reason="seeded", actor="fuzz")
    waiting = _submit("demo.noop", depends_on=(str(pending.id),))
    # Bounds that let a change of any one delay field stand on its own.
    policy = {"initial_delay_ms": 100, "max_delay_ms": 300_000, "delays_ms": [1000]}
    policies = [
        recovery_services.retry_policy_create(
            data={"name": f"fuzz-policy-{n}", **policy}, actor="fuzz"
        )
        for n in range(2)
    ]
    rules = [
        recovery_services.error_rule_create(
            data={"pattern": f"FUZZ_{n}", "retryable": False}, actor="fuzz"
        )
        for n in range(2)
    ]
    workflow = workflow_services.workflow_create(
        name="fuzz-flow",
        definition={"nodes": [{"id": "a", "type": "demo.noop"}]},
        actor="fuzz",
    )
    run = workflow_services.workflow_run(workflow=workflow, actor="fuzz")
    recovery_services.breaker_ensure(service="fuzz-service")
    schedules = _seed_schedules()
    return {
        "jobs": [str(j.id) for j in (*done, pending, cancelled, waiting)],
        "dead_letters": list(DeadLetter.objects.values_list("id", flat=True)),
        "breakers": ["fuzz-service"],
        "policies": [p.name for p in policies],
        "rules": [r.id for r in rules],
        "workflows": [workflow.name],
        "runs": [str(run.id)],
        "job_types": [DOOMED, "demo.noop", "demo.sleep"],
        "schedules": [str(schedule.id) for schedule in schedules],
    }


def _seed_schedules() -> list[Schedule]:
    """A cron schedule of a job, with a run in its history, and an event-triggered
    one of a workflow."""
    now = timezone.now()
    timed = schedule_services.schedule_create(
        data={"name": "fuzz-schedule", "cron": "*/5 * * * *",
              "job": {"type": DOOMED, "payload": {}}, "overlap_policy": "queue"},
        actor="fuzz", now=now,
    )  # fmt: skip
    schedule_services.schedule_trigger(schedule=timed, actor="fuzz", now=now)
    on_event = schedule_services.schedule_create(
        data={"name": "fuzz-on-dead", "event_type": "job.dead_lettered",
              "event_filter": {"type": DOOMED}, "workflow": "fuzz-flow"},
        actor="fuzz", now=now,
    )  # fmt: skip
    return [timed, on_event]


@pytest.fixture
def seeded(transactional_db):
    SEEDED.clear()
    SEEDED.update(_seed())
    yield SEEDED
    SEEDED.clear()


# --- positive cases name seeded objects -----------------------------------------------


# At call time (``before_call`` is a global hook): the coverage phase draws its
# cases when the test is collected, before anything is seeded.
@schemathesis.hook
def before_call(context, case, **kwargs):
    if not SEEDED:  # not this module's test
        return
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    path = case.operation.path
    for prefix, kind in PATH_KINDS.items():
        if path.startswith(prefix):
            name = prefix.rsplit("{", 1)[1].rstrip("}")
            drawn = (case.path_parameters or {}).get(name)
            case.path_parameters = {**case.path_parameters, name: _pick(kind, drawn)}
    if isinstance(case.query, dict):
        case.query.pop("cursor", None)  # a client sends cursors it was given
        if path == "/api/v2/schedules/preview" and "cron" in case.query:
            case.query["cron"] = _choose(CRONS, case.query["cron"])
    if isinstance(case.body, dict):
        _mend_body(case, path)


def _mend_body(case, path: str) -> None:
    body, method = case.body, case.method.upper()
    if path in ("/api/v2/jobs", "/api/v2/jobs/execute"):
        _mend_submit(body, header_key=(case.headers or {}).get("Idempotency-Key"))
    elif path == "/api/v2/jobs/bulk":
        for item in body.get("jobs") or []:
            if isinstance(item, dict):
                _mend_submit(item, header_key=None)
    elif path in ("/api/v2/workflows", "/api/v2/workflows/validate"):
        _mend_definition(body.get("definition"))
    elif path == "/api/v2/dlq/bulk" and isinstance(body.get("ids"), list):
        body["ids"] = [_pick("dead_letters", drawn) for drawn in body["ids"]]
    elif path == "/api/v2/retry-policies" and method == "POST":
        _mend_policy(body, backoff.Policy().as_dict())
    elif path == "/api/v2/retry-policies/{name}" and method == "PATCH":
        stored = RetryPolicy.objects.get(name=case.path_parameters["name"])
        _mend_policy(body, stored.as_dict())
    elif path == "/api/v2/schedules" and method == "POST":
        _mend_schedule(body, None)
        if Schedule.objects.filter(name=body.get("name")).exists():  # a new one
            body["name"] = f"{body['name'][:80]}-{zlib.crc32(repr(body).encode())}"
    elif path == "/api/v2/schedules/{id}" and method == "PATCH":
        _mend_schedule(body, Schedule.objects.get(id=case.path_parameters["id"]))


def _mend_submit(body: dict, *, header_key: Any) -> None:
    if header_key and body.get("idempotency_key") is not None:
        del body["idempotency_key"]  # one key, in the header or the body
    if body.get("parent") is not None:
        body["parent"] = _pick("jobs", body["parent"])
    depends_on = body.get("depends_on")
    if isinstance(depends_on, dict) and isinstance(depends_on.get("jobs"), list):
        depends_on["jobs"] = [_pick("jobs", drawn) for drawn in depends_on["jobs"]]
    elif isinstance(depends_on, list):
        body["depends_on"] = [_pick("jobs", drawn) for drawn in depends_on]
    policy = body.get("retry_policy")
    if isinstance(policy, str):
        body["retry_policy"] = _pick("policies", policy)
    elif isinstance(policy, dict):
        base = backoff.Policy().as_dict()
        if isinstance(policy.get("name"), str):
            policy["name"] = _pick("policies", policy["name"])
            base = RetryPolicy.objects.get(name=policy["name"]).as_dict()
        _mend_policy(policy, base)


def _mend_policy(body: dict, stored: dict) -> None:
    """Delays a policy can keep: ``max_delay_ms`` ≥ ``initial_delay_ms``, custom
    delays non-empty and each ≤ ``max_delay_ms``, given what is stored."""
    merged = {**stored, **body}
    initial, cap = merged["initial_delay_ms"], merged["max_delay_ms"]
    if cap < initial:
        body["max_delay_ms"] = cap = max(initial, backoff.MAX_DELAY_MS[0])
    if merged["strategy"] == "custom":
        delays = [min(delay, cap) for delay in merged["delays_ms"]] or [cap]
        if delays != merged["delays_ms"]:
            body["delays_ms"] = delays


def _mend_schedule(body: dict, stored: Schedule | None) -> None:
    """A cron that parses, a registered job type (any object suits ``DOOMED``), the
    seeded workflow, filter keys the event type has, no queue for a workflow —
    given what is stored, for a change."""
    if isinstance(body.get("cron"), str):
        body["cron"] = _choose(CRONS, body["cron"])
    if isinstance(body.get("job"), dict):
        body["job"]["type"] = DOOMED
    if isinstance(body.get("workflow"), str):
        body["workflow"] = _pick("workflows", body["workflow"])
    kept = stored is not None and "cron" not in body
    event_type = body.get("event_type") or (stored.event_type if kept else "")
    event_filter = body.get("event_filter", stored.event_filter if kept else {})
    if event_filter and not event_type:  # a filter needs an event type
        body["event_filter"] = {}
    elif event_type and event_filter:
        names = list(catalogue.get(event_type).fields)  # some types have none
        mended = (
            {_choose(names, k): v for k, v in event_filter.items()} if names else {}
        )
        if mended != event_filter:
            body["event_filter"] = mended
    workflow = "workflow" in body or (
        stored is not None and stored.workflow_id and "job" not in body
    )
    overlap = body.get("overlap_policy", stored.overlap_policy if stored else "skip")
    if workflow and overlap == "queue":
        body["overlap_policy"] = "allow"


def _mend_definition(definition: Any) -> None:
    """Node ids unique, each node depending on earlier nodes only (no cycle), each
    condition reading one of its node's own dependencies."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    ids: list[str] = []
    for index, node in enumerate(nodes or []):
        if node["id"] in ids:
            node["id"] = f"node-{index}"
        drawn = node.get("depends_on") or []
        deps = [_earlier(ids, d) for d in drawn] if index else []
        if "depends_on" in node:
            node["depends_on"] = list(dict.fromkeys(deps))
        if node.get("condition") is not None:
            if node.get("depends_on"):
                _mend_condition(node["condition"], node["depends_on"])
            else:
                node["condition"] = None
        ids.append(node["id"])


def _earlier(ids: list[str], drawn: Any) -> str:
    return ids[zlib.crc32(repr(drawn).encode()) % len(ids)]


def _mend_condition(condition: dict, parents: list[str]) -> None:
    for part in condition.get("all") or condition.get("any") or []:
        _mend_condition(part, parents)
    if "node" in condition:
        condition["node"] = _earlier(parents, condition["node"])


# --- the test -------------------------------------------------------------------------


@pytest.fixture
def short_connections():
    """Close each request's connection at its end, whichever thread served it, so the
    test database can be flushed and dropped afterwards."""
    config = connections.settings["default"]
    previous, config["CONN_MAX_AGE"] = config["CONN_MAX_AGE"], 0
    yield
    config["CONN_MAX_AGE"] = previous


@pytest.fixture
def auth_header(make_key, short_connections, seeded, settings):
    settings.CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S = EXECUTE_WAIT_S
    return {"Authorization": f"Api-Key {make_key(scopes=['read', 'write'])}"}


# The WSGI handler closes the connection after each request, as in production, so the
# data must be committed: a transactional test.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
@(hypothesis.seed(int(SEED)) if SEED != "random" else lambda test: test)
def test_api_conforms_to_its_schema(case, auth_header):
    # Every check, none excluded.
    case.call_and_validate(headers=auth_header)
