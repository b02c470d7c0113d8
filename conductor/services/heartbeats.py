"""Liveness of worker and beat processes.

Heartbeats are not journalled: they are not state changes of anything a user owns, and
one every few seconds per process would bury the journal.
"""

from datetime import datetime

from conductor.models import Heartbeat


def heartbeat_record(*, name: str, kind: str, at: datetime) -> None:
    Heartbeat.objects.update_or_create(
        name=name, defaults={"kind": kind, "seen_at": at}
    )
