"""Shared test data, made the way the product makes it.

Jobs are made through the submit service (so they carry their events, dependency
rows and doorbell rings, as real ones do), not by inserting rows behind its back;
configuration rows (retry policies, error rules, breakers) through their services too,
so each is journalled as an operator's change would be.
"""

import factory

from conductor import services
from conductor.models import Job
from conductor.services import JobRequest
from recovery import services as recovery_services
from recovery.models import CircuitBreaker, ErrorRule, RetryPolicy

#: A payload ``demo.flaky`` always fails on: the job ends dead after its retries.
DOOMED = {"fail_rate": 1, "error_code": "VALIDATION_ERROR"}


class JobFactory(factory.Factory):
    """``JobFactory(type="demo.sleep", payload={"seconds": 1}, max_retries=0)``: a job
    submitted through ``services.job_submit``; ``JobFactory.create_batch(n, ...)``."""

    class Meta:
        model = JobRequest

    type = "demo.noop"
    payload = factory.Dict({})

    @classmethod
    def _create(cls, model_class, *args, **kwargs) -> Job:
        job, _created = services.job_submit(
            request=model_class(*args, **kwargs), actor="test", named_policies={}
        )
        return job


def jobs_submitted(n: int, **fields) -> list[str]:
    """``n`` jobs in one bulk submit (one transaction, as ``/jobs/bulk`` does); ids."""
    requests = JobFactory.build_batch(n, **fields)
    results = services.jobs_submit(requests=requests, actor="test", materialize=False)
    return [job_id for job_id, _created in results]


class RetryPolicyFactory(factory.Factory):
    """A named retry policy, made by ``retry_policy_create``."""

    class Meta:
        model = dict

    name = factory.Sequence(lambda n: f"policy-{n}")
    max_retries = 3

    @classmethod
    def _create(cls, model_class, *args, **kwargs) -> RetryPolicy:
        return recovery_services.retry_policy_create(data=kwargs, actor="test")


class ErrorRuleFactory(factory.Factory):
    """An operator's error rule, made by ``error_rule_create``."""

    class Meta:
        model = dict

    match = "code"
    pattern = factory.Sequence(lambda n: f"CODE_{n}")
    retryable = False

    @classmethod
    def _create(cls, model_class, *args, **kwargs) -> ErrorRule:
        return recovery_services.error_rule_create(data=kwargs, actor="test")


class BreakerFactory(factory.Factory):
    """The breaker of a service, with thresholds set as an operator would."""

    class Meta:
        model = dict

    service = factory.Sequence(lambda n: f"service-{n}")

    @classmethod
    def _create(cls, model_class, *args, service: str, **thresholds) -> CircuitBreaker:
        recovery_services.breaker_ensure(service=service)
        if thresholds:
            recovery_services.breaker_update(
                service=service, changes=thresholds, actor="test"
            )
        return CircuitBreaker.objects.get(service_name=service)


def api_job(client, *, type: str = "demo.noop", payload=None, **body) -> str:
    """A job submitted through ``POST /api/v2/jobs`` by ``client``; its id."""
    body = {"type": type, "payload": {} if payload is None else payload, **body}
    response = client.post_json("/api/v2/jobs", body)
    assert response.status_code == 201, response.json()
    return response.json()["data"]["id"]
