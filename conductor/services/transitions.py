"""The one way a job changes state outside the engine's bulk paths.

``job_transition`` validates against ``conductor.states`` and applies the change with
a conditional UPDATE (``WHERE state IN sources_of(to)``), so two actors racing on one
job cannot both move it; the loser gets ``IllegalTransition`` naming the real state.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from conductor import states
from conductor.errors import NotFound
from conductor.models import Job
from conductor.services.events import event_record


def job_transition(
    *,
    job_id: str,
    to: str,
    event: str,
    data: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    expect: str | None = None,
    actor: str = "",
    trace_id: str = "",
) -> None:
    """Move a job to ``to`` (from ``expect`` only, if given) and journal ``event``."""
    sources = states.sources_of(to) if expect is None else {expect}
    if expect is not None:
        states.check(expect, to)
    now = timezone.now()
    with transaction.atomic():
        moved = Job.objects.filter(id=job_id, state__in=sources).update(
            state=to, updated_at=now, **(changes or {})
        )
        if not moved:
            current = Job.objects.filter(id=job_id).values_list("state", flat=True)
            if not current:
                raise NotFound(f"no job with id {job_id}")
            raise states.IllegalTransition(current[0], to)
        event_record(
            type=event,
            subject=("job", str(job_id)),
            data={"state": to, **(data or {})},
            actor=actor,
            trace_id=trace_id,
            at=now,
        )
