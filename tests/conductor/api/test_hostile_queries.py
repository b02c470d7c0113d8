"""Hostile input outside the body: headers and query strings (issue 9). Each is
refused with a problem naming the parameter, or replaced — never a 500, never
silently ignored."""

import pytest

from conductor.models import Job

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
