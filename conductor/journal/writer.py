"""The journal's one writer: every event, single or in bulk, is appended here.

An event is written inside the transaction of the change it records (``event_record``
refuses to run outside one), so the journal never says something happened that did
not, and never misses what did. Types come from ``conductor.journal.catalogue``; a type
or a data field that is not in the catalogue is a bug and raises ``ValueError``.

Bulk appends (the engine writes hundreds of events per batch) go through the database
backend in one statement (``conductor.backends``).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from conductor import backends
from conductor.journal.catalogue import EventType
from conductor.models import Event


class JournalOutsideTransaction(RuntimeError):
    """An event must be written in the same transaction as the change it records."""


@dataclass(frozen=True)
class NewEvent:
    """An event to append in bulk; checked against the catalogue when made."""

    type: EventType
    subject_id: str
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    trace_id: str = ""

    def __post_init__(self) -> None:
        _check(self.type, self.type.subject, self.data)


def _check(event_type: EventType, subject_type: str, data: dict) -> None:
    if not isinstance(event_type, EventType):
        raise ValueError(f"{event_type!r} is not an event type of the catalogue")
    if subject_type != event_type.subject:
        raise ValueError(
            f"{event_type} is about a {event_type.subject}, not a {subject_type}"
        )
    unknown = event_type.unknown_fields(data)
    if unknown:
        raise ValueError(f"{event_type} has no data field(s) {', '.join(unknown)}")


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise JournalOutsideTransaction(
            "events must be written inside the transaction of the change they record"
        )


def subject_of(subject: models.Model | tuple[str, str]) -> tuple[str, str]:
    if isinstance(subject, tuple):
        return subject
    return subject._meta.model_name, str(subject.pk)


def event_record(
    *,
    type: EventType,
    subject: models.Model | tuple[str, str],
    data: dict[str, Any] | None = None,
    actor: str = "",
    trace_id: str = "",
    at: datetime | None = None,
) -> Event:
    """Append one event to the journal, inside the caller's transaction."""
    _require_transaction()
    subject_type, subject_id = subject_of(subject)
    _check(type, subject_type, data or {})
    return Event.objects.create(
        type=type.name,
        subject_type=subject_type,
        subject_id=subject_id,
        data=data or {},
        actor=actor,
        trace_id=trace_id,
        created_at=at or timezone.now(),
    )


def events_record(events: Iterable[NewEvent], *, at: datetime | None = None) -> int:
    """Append many events with one statement, inside the caller's transaction."""
    _require_transaction()
    rows = [
        backends.EventRow(
            e.type.name, e.type.subject, e.subject_id, e.data, e.actor, e.trace_id
        )
        for e in events
    ]
    if not rows:
        return 0
    return backends.current().events_append(rows, at=at or timezone.now())
