"""What a test looks at: a job's journal, the fields a problem response names, a moment
ahead of now."""

from datetime import timedelta

from django.utils import timezone

from conductor.models import Event


def job_events(job_id, type_: str | None = None) -> list[Event]:
    """The journal of one job, oldest first (only ``type_`` if given)."""
    events = Event.objects.filter(subject_type="job", subject_id=str(job_id))
    if type_:
        events = events.filter(type=type_)
    return list(events.order_by("id"))


def fields(response) -> list[str]:
    """The fields a problem+json response names, in order."""
    return [error["field"] for error in response.json()["errors"]]


def later(**delta) -> str:
    """ISO 8601 for now + ``delta``."""
    return (timezone.now() + timedelta(**delta)).isoformat()


def codes(reasons: list[dict]) -> list[str]:
    """The codes of explain's reasons, in order."""
    return [reason["code"] for reason in reasons]
