"""The journal's reader on PostgreSQL: events after a cursor, never skipping one whose
transaction commits after a later-numbered one, never returning one twice.

The interleavings are driven with real connections: each writer is a thread with a
database connection of its own, held open inside its transaction until told to go.
"""

import threading

import pytest
from django.db import connection, transaction

from conductor.journal.catalogue import JOB_READY, JOB_SKIPPED
from conductor.journal.reader import events_after
from conductor.journal.writer import event_record
from conductor.models import Event

pytestmark = pytest.mark.django_db(transaction=True)


class Writer(threading.Thread):
    """Writes ``count`` events in one transaction, commits when ``go`` is set."""

    def __init__(self, name: str, count: int = 1):
        super().__init__(daemon=True)
        self.label, self.count = name, count
        self.written = threading.Event()
        self.go = threading.Event()
        self.ids: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                for n in range(self.count):
                    event = event_record(
                        type=JOB_READY, subject=("job", f"{self.label}-{n}")
                    )
                    self.ids.append(event.id)
                self.written.set()
                assert self.go.wait(10), "never told to commit"
        except BaseException as exc:
            self.error = exc
            self.written.set()
        finally:
            connection.close()

    def commit(self) -> None:
        self.go.set()
        self.join(10)
        assert self.error is None, self.error


def write_now(label: str) -> int:
    with transaction.atomic():
        return event_record(type=JOB_SKIPPED, subject=("job", label)).id


def drain(after: int) -> tuple[list[int], int]:
    """Everything the reader hands out now, from ``after``; and the new cursor."""
    seen = []
    while batch := events_after(after=after, limit=2):
        seen += [event.id for event in batch]
        after = batch[-1].id
    return seen, after


def test_an_event_committed_after_a_later_numbered_one_is_not_skipped():
    slow = Writer("slow")
    slow.start()
    assert slow.written.wait(10)
    fast = write_now("fast")  # a higher id, committed first
    assert fast > slow.ids[0]

    seen, cursor = drain(0)
    # The fast event waits behind the slow, unfinished transaction: handing it out now
    # would move the cursor past the slow event's id.
    assert seen == []

    slow.commit()
    more, cursor = drain(cursor)
    assert more == [slow.ids[0], fast]
    assert drain(cursor)[0] == []


def test_many_writers_committing_in_any_order_are_each_read_exactly_once():
    writers = [Writer(f"w{n}", count=3) for n in range(4)]
    for writer in writers:
        writer.start()
        assert writer.written.wait(10)
    seen, cursor = drain(0)
    before = write_now("before")
    for writer in reversed(writers):  # commit in the opposite order of their ids
        writer.commit()
        batch, cursor = drain(cursor)
        seen += batch
    after = write_now("after")
    batch, cursor = drain(cursor)
    seen += batch
    expected = [i for w in writers for i in w.ids] + [before, after]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))  # none twice


def test_an_uncommitted_events_own_reader_sees_nothing_until_it_commits():
    with transaction.atomic():
        write_now("mine")
        assert events_after(after=0) == []
    assert [e.subject_id for e in events_after(after=0)] == ["mine"]


def test_types_filter_and_limit():
    ids = [write_now(f"j{n}") for n in range(3)]
    assert [e.id for e in events_after(after=0, limit=2)] == ids[:2]
    assert events_after(after=0, types=["job.ready"]) == []
    assert [e.id for e in events_after(after=ids[0], types=["job.skipped"])] == ids[1:]
    with pytest.raises(KeyError):
        events_after(after=0, types=["no.such"])
    with pytest.raises(ValueError):
        events_after(after=0, limit=0)


def test_a_cursor_whose_event_is_gone_resumes_from_the_nearest_older_one():
    ids = [write_now(f"j{n}") for n in range(4)]
    Event.objects.filter(id=ids[1]).delete()
    assert [e.id for e in events_after(after=ids[1])] == ids[2:]
