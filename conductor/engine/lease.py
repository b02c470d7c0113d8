"""A worker's hold on its running jobs: extend leases, learn of cancels, warn on time.

A lease is ``lease_expires_at`` on a running job; the sweeper takes back jobs whose
lease ran out (their worker died). A live worker extends the leases it holds; a job
that is no longer ``running`` under its name was taken away (forced cancel, or the
sweeper after a long stall) and must not be written by it.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models.functions import Now

from conductor import backends
from conductor.engine.claim import ClaimedJob
from conductor.journal.catalogue import JOB_TIMEOUT_WARNING
from conductor.journal.writer import event_record
from conductor.models import Job
from conductor.states import JobState


def expiry() -> Now:
    """A lease's end by the database's clock (every host reads the same one)."""
    return Now() + timedelta(seconds=settings.CONDUCTOR_ENGINE_LEASE_S)


def extend(*, ids: list[str], worker: str) -> tuple[set[str], set[str]]:
    """Extend our leases; return (ids with a graceful cancel request, ids lost)."""
    mine = Job.objects.filter(id__in=ids, state=JobState.RUNNING, locked_by=worker)
    mine.update(lease_expires_at=expiry())
    held = {str(i): asked for i, asked in mine.values_list("id", "cancel_requested_at")}
    graceful = {job_id for job_id, asked in held.items() if asked is not None}
    return graceful, set(ids) - set(held)


@transaction.atomic
def mark_started(*, ids: list[str], worker: str) -> None:
    """These claimed jobs are about to run (``attempt_started_at``, database clock).

    A batch is marked in a few chunks, each a commit; the mark only tells a job never
    reached from one that ran, so its commit does not wait for the disk (a database
    crash that loses it leaves the job counted as never reached: it runs again, its
    attempt unused). Waiting was a third of a batch of quick jobs' time."""
    backends.current().commit_lazily()
    Job.objects.filter(
        id__in=ids,
        state=JobState.RUNNING,
        locked_by=worker,
        attempt_started_at__isnull=True,
    ).update(attempt_started_at=Now())


@transaction.atomic
def timeout_warning(*, job: ClaimedJob, worker: str, elapsed_s: float) -> None:
    event_record(
        type=JOB_TIMEOUT_WARNING,
        subject=("job", job.id),
        data={
            "type": job.type,
            "attempt": job.attempt,
            "elapsed_s": round(elapsed_s, 1),
            "timeout_s": job.timeout_s,
            "worker": worker,
        },
        trace_id=job.trace_id,
    )
