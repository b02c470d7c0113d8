"""The tick (run inside beat every ``CONDUCTOR_ENGINE_TICK_S``, see
``conductor.beat``): what must happen on time.

1. Open breakers whose timeout passed go half-open.
2. Pending jobs of open breakers are parked; parked jobs of breakers no longer open
   go back to pending.
3. Every queue with due work gets a doorbell — this is what starts a retry within a
   tick of its ``run_at`` (SPEC §3: within 1 s), without broker ETA or Celery retry.
"""

from datetime import datetime

from conductor import doorbell, selectors
from conductor.services.parking import jobs_park, jobs_unpark
from recovery import selectors as breakers_read
from recovery import services as breakers_write


def tick(*, now: datetime) -> dict:
    half_opened = breakers_write.breakers_half_open_due(now=now)
    rows = breakers_read.breakers_by_status().get("open", [])
    until = {row.service_name: row.open_until() or now for row in rows}
    parked = jobs_park(until_by_service=until, now=now) if until else 0
    unparked = jobs_unpark(still_open=until, now=now)
    queues = selectors.due_queues(now=now)
    for queue in queues:
        doorbell.ring(queue)
    return {"half_opened": half_opened, "parked": parked, "unparked": unparked,
            "rang": queues}  # fmt: skip
