"""The event journal's one writer, called inside each state change's transaction."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from conductor.models import Event


class JournalOutsideTransaction(RuntimeError):
    """An event must be written in the same transaction as the change it records."""


@dataclass(frozen=True)
class NewEvent:
    type: str
    subject_type: str
    subject_id: str
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    trace_id: str = ""


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise JournalOutsideTransaction(
            "event_record must run inside the transaction of the change it records"
        )


def subject_of(subject: models.Model | tuple[str, str]) -> tuple[str, str]:
    if isinstance(subject, tuple):
        return subject
    return subject._meta.model_name, str(subject.pk)


def event_record(
    *,
    type: str,
    subject: models.Model | tuple[str, str],
    data: dict[str, Any] | None = None,
    actor: str = "",
    trace_id: str = "",
    at: datetime | None = None,
) -> Event:
    """Append one event to the journal, inside the caller's transaction."""
    _require_transaction()
    subject_type, subject_id = subject_of(subject)
    return Event.objects.create(
        type=type,
        subject_type=subject_type,
        subject_id=subject_id,
        data=data or {},
        actor=actor,
        trace_id=trace_id,
        created_at=at or timezone.now(),
    )


def events_record(events: Iterable[NewEvent], *, at: datetime | None = None) -> int:
    """Append many events with one INSERT, inside the caller's transaction."""
    _require_transaction()
    at = at or timezone.now()
    rows = [
        Event(
            type=e.type,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            data=e.data,
            actor=e.actor,
            trace_id=e.trace_id,
            created_at=at,
        )
        for e in events
    ]
    Event.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
