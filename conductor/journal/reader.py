"""The journal's reader: "events after this one, of these types, at most N".

Webhook delivery, live updates and event-triggered schedules follow the journal with
this reader, each from a cursor it stores (the id of the last event it handled).

Never skipping an event
-----------------------
Event ids come from a sequence when the row is inserted, not when its transaction
commits. Two writers T1 and T2 may take ids 10 and 11, and T2 may commit first: a
reader that saw 11 and moved its cursor past it would never see 10. So on PostgreSQL
the journal is read in the order of the *writing transaction*, behind a visibility
horizon:

- each row carries ``tx``, the id of the transaction that wrote it
  (``pg_current_xact_id()``, filled in by the column's default);
- a read returns only events with ``tx`` below the ``xmin`` of its own snapshot —
  every transaction older than that has finished, so all of its events are visible
  and final — ordered by ``(tx, id)`` and after the cursor's ``(tx, id)``;
- a transaction still running has a ``tx`` at or above that ``xmin``: its events
  appear in a later read, after everything already returned. Nothing commits behind
  the cursor, and nothing is returned twice.

The price is latency: an event waits until every transaction older than its own has
finished, so a long-running writing transaction holds the journal back while it runs
(Conductor's own transactions are short). A reader inside a transaction that wrote
events sees none of them until it commits, as it should.

SQLite (the embedded default) has a single writer: transactions never overlap, ids
are handed out in commit order, and the reader simply follows ``id``.

The cursor is an event id. A cursor whose event was pruned resumes from the nearest
older event still kept (a few events may then come again, never fewer).
"""

from collections.abc import Collection

from conductor import backends
from conductor.journal import catalogue
from conductor.models import Event, JournalCursor

MAX_LIMIT = 10_000


def events_after(
    *, after: int = 0, types: Collection[str] = (), limit: int = 500
) -> list[Event]:
    """Events after the event ``after`` (0: from the beginning), in journal order;
    only ``types`` (names from the catalogue; empty: every type); at most ``limit``."""
    for name in types:
        catalogue.get(name)  # KeyError: not an event type
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}, got {limit}")
    return backends.current().events_after(
        after=max(after, 0), types=sorted(types), limit=limit
    )


def cursor_locked(name: str) -> JournalCursor:
    """A follower's cursor, locked until the end of the caller's transaction (two
    followers of the same name take turns); made at 0 the first time."""
    JournalCursor.objects.get_or_create(name=name)
    return JournalCursor.objects.select_for_update().get(name=name)


def latest_event_id() -> int:
    """The id of the newest event (0: the journal is empty)."""
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
