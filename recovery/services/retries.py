"""An actor's retry of a failed or dead job, and the dependency retries the engine
carries out: one more attempt, and a dead job's open dead-letter entry is closed.

Retrying is recovery's business because of the dead-letter queue: a dead job that
runs again is no longer in it.
"""

from django.db import transaction

from conductor.errors import Conflict
from conductor.journal.catalogue import JOB_RETRIED
from conductor.models import Job
from conductor.selectors import job_get
from conductor.services import job_requeue
from conductor.states import JobState
from recovery.services.dead_letters import dead_letters_close_for_job

RETRYABLE = (JobState.FAILED, JobState.DEAD)


@transaction.atomic
def job_retry(*, job_id: str, actor: str, reason: str = "") -> Job:
    """Run a failed or dead job again: one more attempt."""
    job = job_get(id=job_id)
    if job.state not in RETRYABLE:
        raise Conflict(
            f"only failed or dead jobs can be retried; this one is {job.state}"
        )
    job_requeue(job=job, event=JOB_RETRIED, actor=actor, data={"reason": reason})
    if job.state == JobState.DEAD:
        dead_letters_close_for_job(
            job_id=job.id, actor=actor, notes=f"retried: {reason}".strip()[:5000]
        )
    return job_get(id=job_id)
