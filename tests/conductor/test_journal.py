"""The journal: events are written inside the change's transaction, never outside."""

import pytest
from django.db import transaction

from conductor import services
from conductor.models import Event
from conductor.services.events import JournalOutsideTransaction

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_outside_a_transaction_is_refused():
    with pytest.raises(JournalOutsideTransaction):
        services.event_record(type="x.y", subject=("thing", "1"))
    assert Event.objects.count() == 0


def test_an_event_rolls_back_with_its_change():
    with pytest.raises(RuntimeError), transaction.atomic():
        services.event_record(type="x.y", subject=("thing", "1"), data={"a": 1})
        raise RuntimeError("the change failed")
    assert Event.objects.count() == 0


def test_ids_increase_and_subject_index_reads_in_order():
    with transaction.atomic():
        first = services.event_record(type="a", subject=("thing", "1"))
        services.event_record(type="b", subject=("thing", "2"))
        third = services.event_record(type="c", subject=("thing", "1"))
    assert first.id < third.id
    subject = Event.objects.filter(subject_type="thing", subject_id="1").order_by("id")
    assert [e.type for e in subject] == ["a", "c"]
