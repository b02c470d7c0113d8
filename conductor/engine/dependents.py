"""After jobs end, their waiting dependents move on; the retries they ask for are
carried out here, where recovery is at hand (a dead dependency leaves the DLQ).

``dependents_follow`` runs inside the transaction that ended the jobs (completion,
the sweeper); ``waiting_follow`` decides again for given waiting jobs (a doorbell
rung by a cancel or a submit, or the sweeper's safety net).
"""

import logging
from collections.abc import Iterable, Sequence

from django.db import transaction

from conductor.errors import DomainError
from conductor.models import Job
from conductor.services.dependencies import (
    RetryAsk,
    dependency_retry_counted,
    dependents_resolve,
    waiting_resolve,
)
from recovery.services import job_retry
from recovery.services.retries import RETRYABLE

log = logging.getLogger(__name__)


def dependents_follow(*, finished: Iterable[str], actor: str = "system") -> None:
    _retry(dependents_resolve(finished=finished, actor=actor), actor)


@transaction.atomic
def waiting_follow(*, job_ids: Sequence[str], actor: str = "system") -> None:
    _retry(waiting_resolve(job_ids=job_ids, actor=actor), actor)


def _retry(asks: list[RetryAsk], actor: str) -> None:
    for ask in asks:
        dependency_retry_counted(job_id=ask.job_id)
        ended = Job.objects.filter(id__in=ask.dependencies, state__in=RETRYABLE)
        for dep_id in ended.values_list("id", flat=True):  # others ran again already
            reason = f"retried for dependent {ask.job_id}"
            try:
                job_retry(job_id=dep_id, actor=actor, reason=reason)
            except DomainError as exc:  # e.g. its own dependencies failed for good
                log.warning("%s not retried for %s: %s", dep_id, ask.job_id, exc)
