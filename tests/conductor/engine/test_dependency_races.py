"""A dependent is released whatever the interleaving of its submit with its
dependency's claim and completion (PostgreSQL).

The interleavings run on real connections: each side is a thread with a database
connection of its own, holding its transaction open until told to commit, so the other
side meets its row locks exactly as a worker and an API process would.
"""

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from conductor.engine.complete import complete_batch
from conductor.engine.judge import judge_batch
from conductor.engine.supervise import run_batch
from conductor.engine.sweep import sweep
from conductor.models import Event, Job
from tests.factories import JobFactory
from tests.worker import claim

pytestmark = pytest.mark.django_db(transaction=True)


def _complete(batch) -> int:
    finished = judge_batch(run_batch(batch, worker="test-worker"))
    return complete_batch(finished=finished, worker="test-worker", now=timezone.now())


class Held(threading.Thread):
    """Runs ``work`` in a transaction of its own, commits when told to."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.done_work = threading.Event()
        self.go = threading.Event()
        self.result = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.result = self.work()
                self.done_work.set()
                assert self.go.wait(20), "never told to commit"
        except BaseException as exc:
            self.error = exc
        finally:
            self.done_work.set()
            connection.close()

    def commit(self):
        self.go.set()
        self.join(20)
        assert not self.is_alive() and self.error is None, self.error
        return self.result


def _blocked(thread: threading.Thread) -> bool:
    """Whether ``thread`` is still waiting (for a lock) after a moment."""
    time.sleep(0.5)
    return thread.is_alive()


def test_a_dependent_submitted_while_its_dependency_runs_is_released():
    # The reported case: D is running when J is submitted; D then succeeds.
    dependency = JobFactory()
    batch = claim()
    dependent = JobFactory(depends_on=[str(dependency.id)])
    assert dependent.state == "waiting"
    assert _complete(batch) == 1
    assert Job.objects.get(id=dependency.id).state == "succeeded"
    assert Job.objects.get(id=dependent.id).state == "pending"
    assert Event.objects.filter(subject_id=str(dependent.id), type="job.ready")


def test_submit_meeting_a_completion_in_flight_waits_and_sees_it_done():
    dependency = JobFactory()
    batch = claim()
    completion = Held(lambda: _complete(batch))
    completion.start()
    assert completion.done_work.wait(20)  # D is written, not yet committed

    submit = Held(lambda: JobFactory(depends_on=[str(dependency.id)]))
    submit.start()
    assert _blocked(submit)  # it waits for D's row, held by the completion
    assert completion.commit() == 1
    dependent = submit.commit()
    # It read D after D's completion committed: due at once, never waiting.
    assert dependent.state == "pending"
    assert Job.objects.get(id=dependent.id).state == "pending"


def test_completion_meeting_a_submit_in_flight_waits_and_releases_it():
    dependency = JobFactory()
    batch = claim()
    submit = Held(lambda: JobFactory(depends_on=[str(dependency.id)]))
    submit.start()
    assert submit.done_work.wait(20)  # J is written (waiting), not yet committed

    completion = Held(lambda: _complete(batch))
    completion.start()
    assert _blocked(completion)  # it waits for D's row, locked by the submit
    dependent = submit.commit()
    assert dependent.state == "waiting"
    assert completion.commit() == 1
    # The completion saw the new dependent once the submit committed: released.
    assert Job.objects.get(id=dependent.id).state == "pending"


def test_the_sweepers_safety_net_releases_a_dependent_whose_release_was_missed():
    dependency = JobFactory()
    dependent = JobFactory(depends_on=[str(dependency.id)])
    # A fault (say, a crash between two transactions) left D done and J waiting.
    Job.objects.filter(id=dependency.id).update(state="succeeded")
    assert sweep(now=timezone.now())["waiting_released"] == 1
    assert Job.objects.get(id=dependent.id).state == "pending"
    event = Event.objects.get(type="engine.waiting_released")
    assert event.data == {"count": 1, "ids": [str(dependent.id)]}
    assert sweep(now=timezone.now())["waiting_released"] == 0  # nothing more to do
