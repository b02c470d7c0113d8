"""The journal's writer: inside the change's transaction, only catalogued types and
fields, bulk appends in order."""

import pytest
from django.db import transaction

from conductor.journal.catalogue import JOB_READY, JOB_SKIPPED, JOB_STARTED
from conductor.journal.writer import (
    JournalOutsideTransaction,
    NewEvent,
    event_record,
    events_record,
)
from conductor.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

JOB = ("job", "00000000-0000-0000-0000-000000000001")


def test_an_event_outside_a_transaction_is_refused():
    with pytest.raises(JournalOutsideTransaction):
        event_record(type=JOB_READY, subject=JOB)
    with pytest.raises(JournalOutsideTransaction):
        events_record([NewEvent(JOB_READY, JOB[1])])
    assert Event.objects.count() == 0


def test_an_event_rolls_back_with_its_change():
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(type=JOB_READY, subject=JOB, data={"state": "pending"})
        raise RuntimeError("the change failed")
    assert Event.objects.count() == 0


def test_ids_increase_and_subject_index_reads_in_order():
    with transaction.atomic():
        first = event_record(type=JOB_READY, subject=JOB)
        event_record(type=JOB_READY, subject=("job", "2"))
        third = event_record(type=JOB_SKIPPED, subject=JOB)
    assert first.id < third.id
    subject = Event.objects.filter(subject_type="job", subject_id=JOB[1]).order_by("id")
    assert [e.type for e in subject] == ["job.ready", "job.skipped"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: event_record(type="job.ready", subject=JOB), "not an event type"),
        (lambda: event_record(type=JOB_READY, subject=("breaker", "x")), "about a job"),
        (
            lambda: event_record(type=JOB_READY, subject=JOB, data={"colour": "red"}),
            r"no data field\(s\) colour",
        ),
        (lambda: NewEvent(JOB_STARTED, "1", {"typo": 1}), r"no data field\(s\) typo"),
    ],
)
def test_types_and_fields_outside_the_catalogue_are_refused(call, message):
    with pytest.raises(ValueError, match=message), transaction.atomic():
        call()
    assert Event.objects.count() == 0


def test_a_bulk_append_keeps_its_order_and_fields():
    events = [
        NewEvent(JOB_STARTED, f"job-{n}", {"attempt": n}, "me", f"trace-{n}")
        for n in range(50)
    ]
    with transaction.atomic():
        assert events_record(events) == 50
    rows = list(Event.objects.order_by("id"))
    assert [r.subject_id for r in rows] == [f"job-{n}" for n in range(50)]
    assert rows[7].data == {"attempt": 7}
    assert (rows[7].type, rows[7].actor, rows[7].trace_id) == (
        "job.started",
        "me",
        "trace-7",
    )
