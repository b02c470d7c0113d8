"""Hostile input outside the body: headers and query strings (issue 9). Each is
refused with a problem naming the parameter, or replaced — never a 500, never
silently ignored."""

import base64

import pytest

from conductor.models import Job
from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types

pytestmark = pytest.mark.django_db

JOBS = "/api/v2/jobs"


# --- request and trace ids ----------------------------------------------------------


@pytest.mark.parametrize("header", ["HTTP_X_REQUEST_ID", "HTTP_X_TRACE_ID"])
def test_an_id_longer_than_its_column_is_replaced_not_stored_cut(api, header):
    long_id = "t" * 65
    response = api.post_json(JOBS, {"type": "demo.noop"}, **{header: long_id})
    assert response.status_code == 201
    job = Job.objects.get(id=response.json()["data"]["id"])
    assert job.trace_id and job.trace_id != long_id[:64]
    assert len(job.trace_id) <= 64
    echoed = response["X-Trace-Id" if header == "HTTP_X_TRACE_ID" else "X-Request-ID"]
    assert echoed != long_id and len(echoed) <= 64


def test_an_id_as_long_as_its_column_is_kept(api):
    trace = "t" * 64
    response = api.post_json(JOBS, {"type": "demo.noop"}, HTTP_X_TRACE_ID=trace)
    assert Job.objects.get(id=response.json()["data"]["id"]).trace_id == trace


# --- payload filters -------------------------------------------------------------------


@pytest.fixture
def orders(api):
    """Three jobs whose payloads a filter can tell apart."""
    ids = {}
    for name, customer in [("a", {"id": 42, "tier": "gold"}), ("b", {"id": 7}),
                           ("c", {"id": None, "regex": "x"})]:  # fmt: skip
        response = api.post_json(JOBS, {"type": "test.echo",
                                        "payload": {"customer": customer}})  # fmt: skip
        ids[name] = response.json()["data"]["id"]
    return ids


def _listed(api, query: str) -> set[str]:
    response = api.get(f"{JOBS}?{query}")
    assert response.status_code == 200, response.json()
    return {job["id"] for job in response.json()["data"]}


def test_a_payload_filter_is_plain_equality(api, orders):
    assert _listed(api, "payload.customer.id=42") == {orders["a"]}
    assert _listed(api, "payload.customer.tier=gold") == {orders["a"]}
    assert _listed(api, "payload.customer.id=null") == {orders["c"]}
    # a segment named like a database lookup is a key, never the lookup
    assert _listed(api, "payload.customer.regex=x") == {orders["c"]}
    assert _listed(api, "payload.customer.regex=.*") == set()
    assert _listed(api, "payload.customer.isnull=true") == set()
    assert _listed(api, "payload.customer.id.gt=1") == set()


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("payload.customer__id=42", "payload.customer__id"),  # Django's separator
        ("payload.=1", "payload."),
        ("payload.a%0A=1", "payload.a\n"),  # a newline after the path
        ("payload." + ".".join("a" * 9) + "=1", "payload." + ".".join("a" * 9)),
        ("payload." + "a" * 65 + "=1", "payload." + "a" * 65),
        ("payload.customer=%7B%22id%22%3A42%7D", "payload.customer"),  # an object
        ("payload.customer.id=%5B42%5D", "payload.customer.id"),  # a list
        ("payload.customer.id=1e400", "payload.customer.id"),
        ("payload.customer.id=NaN", "payload.customer.id"),
        ("payload.customer.id=" + "%5B" * 5000, "payload.customer.id"),
        ("payload.customer.id=%22a%5Cu0000b%22", "payload.customer.id"),
    ],
)
def test_anything_but_a_scalar_at_a_plain_path_is_a_400_naming_it(api, query, param):
    response = api.get(f"{JOBS}?{query}")
    assert response.status_code == 400, response.json()
    assert param in [e["field"] for e in response.json()["errors"]]


def test_payload_filters_are_bounded_in_number(api):
    query = "&".join(f"payload.k{n}=1" for n in range(9))
    response = api.get(f"{JOBS}?{query}")
    assert response.status_code == 400
    assert "payload" in [e["field"] for e in response.json()["errors"]]


# --- cursors and idempotency keys -----------------------------------------------------


def _cursor(position: str, offset: int = 0) -> str:
    return base64.b64encode(f"o={offset}&p={position}".encode()).decode()


BY_TIME = [JOBS, "/api/v2/dlq"]
BY_NAME = ["/api/v2/breakers", "/api/v2/retry-policies", "/api/v2/job-types"]
UNREADABLE = ["not base64 at all!", base64.b64encode(b"\xff\xfe").decode(),
              _cursor("a\x00b")]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "cursor"),
    [(path, cursor) for path in BY_TIME + BY_NAME for cursor in UNREADABLE]
    + [(path, _cursor(position)) for path in BY_TIME
       for position in ["not-a-date", "2026-13-45T99:00:00", "1" * 40]]
    + [(path, _cursor("n" * 300)) for path in BY_NAME],  # longer than any name
)  # fmt: skip
def test_a_crafted_cursor_is_a_400(api, path, cursor):
    response = api.get(path, {"cursor": cursor})
    assert response.status_code == 400, (path, response.content)
    assert "cursor" in [e["field"] for e in response.json()["errors"]]


def test_a_crafted_event_cursor_is_a_400(api):
    job_id = api.post_json(JOBS, {"type": "demo.noop"}).json()["data"]["id"]
    for position in ["x", "99999999999999999999999", "-1e9"]:
        response = api.get(f"{JOBS}/{job_id}/events", {"cursor": _cursor(position)})
        assert response.status_code == 400, (position, response.content)


def test_a_real_cursor_still_pages(api):
    for _ in range(3):
        api.post_json(JOBS, {"type": "demo.noop"})
    first = api.get(JOBS, {"page_size": 2}).json()
    cursor = first["meta"]["pagination"]["next_cursor"]
    second = api.get(JOBS, {"page_size": 2, "cursor": cursor})
    assert second.status_code == 200 and len(second.json()["data"]) == 1


def test_an_idempotency_key_over_255_characters_is_a_400(api):
    header = api.post_json(JOBS, {"type": "demo.noop"}, HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert header.status_code == 400
    assert "Idempotency-Key" in [e["field"] for e in header.json()["errors"]]
    body = api.post_json(JOBS, {"type": "demo.noop", "idempotency_key": "k" * 256})
    assert body.status_code == 400
    assert "idempotency_key" in [e["field"] for e in body.json()["errors"]]
    assert Job.objects.count() == 0
    ok = api.post_json(JOBS, {"type": "demo.noop"}, HTTP_IDEMPOTENCY_KEY="k" * 255)
    assert ok.status_code == 201


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_idempotency_key_header_is_a_400_not_a_job_without_one(api, blank):
    response = api.post_json(JOBS, {"type": "demo.noop"}, HTTP_IDEMPOTENCY_KEY=blank)
    assert response.status_code == 400
    error = next(
        e for e in response.json()["errors"] if e["field"] == "Idempotency-Key"
    )
    assert error["message"] == "must not be blank"
    assert Job.objects.count() == 0


# --- every list is paginated -------------------------------------------------------------

LISTS = ["/api/v2/jobs", "/api/v2/dlq", "/api/v2/breakers", "/api/v2/retry-policies",
         "/api/v2/error-rules", "/api/v2/job-types", "/api/v2/workflows"]  # fmt: skip


@pytest.mark.parametrize("path", [*LISTS, "attempts", "events"])
def test_every_list_is_paginated_with_a_maximum_page_size(api, path):
    if path in ("attempts", "events"):
        job_id = api.post_json(JOBS, {"type": "demo.noop"}).json()["data"]["id"]
        path = f"{JOBS}/{job_id}/{path}"
    response = api.get(path, {"page_size": 1})
    assert response.status_code == 200
    assert "pagination" in response.json()["meta"], path
    too_big = api.get(path, {"page_size": 501})
    assert too_big.status_code == 400
    assert "page_size" in [e["field"] for e in too_big.json()["errors"]]
