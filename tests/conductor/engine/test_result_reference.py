"""A result kept in another system: the handler refers to it (URI + metadata), the
job keeps the reference and the API shows it (SPEC §2)."""

import pytest

from tests.conductor.jobtypes import for_tests  # noqa: F401 - registers test.* types
from tests.factories import JobFactory, api_job
from tests.worker import run_due_jobs

pytestmark = pytest.mark.django_db


def test_a_reference_is_kept_beside_the_result():
    job = JobFactory(type="test.refer", payload={
        "uri": "s3://exports/2026/12/orders.parquet",
        "metadata": {"bytes": 1048576, "etag": "9b2cf535f27731c974343645a3985328"},
    })  # fmt: skip
    run_due_jobs()
    job.refresh_from_db()
    assert job.state == "succeeded"
    assert job.result == {"stored": True}
    assert job.result_reference == {
        "uri": "s3://exports/2026/12/orders.parquet",
        "metadata": {"bytes": 1048576, "etag": "9b2cf535f27731c974343645a3985328"},
    }


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"uri": "no scheme here"}, "uri must be a URI with a scheme"),
        ({"uri": "https://x.example/" + "a" * 2100}, "longer than 2048"),
        ({"uri": "s3://b/k", "metadata": {"blob": "x" * 9000}}, "larger than 8192"),
        ({"uri": "s3://b/k", "not_json": True}, "metadata is not JSON"),
    ],
)
def test_a_bad_reference_fails_the_attempt_for_good(payload, problem):
    job = JobFactory(
        type="test.refer", payload={"metadata": {}, **payload}, max_retries=3
    )
    run_due_jobs()
    job.refresh_from_db()
    assert job.state == "dead"
    assert job.error["code"] == "RESULT_INVALID"
    assert problem in job.error["message"]
    assert job.result_reference is None


def test_the_api_shows_a_result_reference(api):
    job_id = api_job(api, type="test.refer",
                     payload={"uri": "s3://exports/a.csv", "metadata": {"rows": 3}})  # fmt: skip
    run_due_jobs()
    reference = {"uri": "s3://exports/a.csv", "metadata": {"rows": 3}}
    assert (
        api.get(f"/api/v2/jobs/{job_id}").json()["data"]["result_reference"]
        == reference
    )
    assert (
        api.get(f"/api/v2/jobs/{job_id}/result").json()["data"]["reference"]
        == reference
    )
