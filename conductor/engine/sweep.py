"""The sweeper (run by beat): ring the doorbell for every queue with due work.

A doorbell message may be lost (broker restart, publish failure); the table is the
truth, so the sweeper looks there and rings again.
"""

from datetime import datetime

from conductor import selectors
from conductor.services import doorbell_ring


def sweep(*, now: datetime) -> dict:
    queues = selectors.due_queues(now=now)
    for queue in queues:
        doorbell_ring(queue)
    return {"rang": queues}
