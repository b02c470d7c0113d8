"""What a schedule does with its due fire times: pure decisions, no clock, no database.

Catch-up (fire times that came while beat was down)
---------------------------------------------------
A fire time is *on time* when it is at most ``grace_s`` old when beat handles it (a
beat restart within the grace loses nothing); older ones are *late*.

- ``none``: on-time fire times run; late ones are recorded ``missed``.
- ``latest``: the on-time ones run, or, if none is, the latest late one; the others
  are recorded ``missed``.
- ``all``: the latest ``catchup_max`` due fire times run, one after another as the
  overlap policy says; older ones are recorded ``missed``.

Overlap (the previous run is still going)
-----------------------------------------
``skip`` records the new run ``skipped``; ``queue`` starts its job once the previous
run's job has ended (a dependency that continues whatever the outcome); ``allow``
runs it side by side.

Jitter
------
A run's job starts up to ``jitter_s`` after its fire time, by an offset that depends
only on the schedule and the fire time: a fire handled twice would pick the same.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

OVERLAP = ("skip", "queue", "allow")
CATCHUP = ("none", "latest", "all")
CATCHUP_MAX = 1000
JITTER_MAX_S = 3600
GRACE_S = 60
#: Most missed fire times recorded one by one after a long downtime (the event
#: counts them all).
MISSED_ROWS_MAX = 1000
#: Most keys of an event-trigger filter.
FILTER_KEYS_MAX = 8


@dataclass(frozen=True)
class Plan:
    run: list[datetime]
    missed: list[datetime]


def plan(
    due: Sequence[datetime],
    *,
    now: datetime,
    catchup: str,
    catchup_max: int,
    grace_s: float = GRACE_S,
) -> Plan:
    """Which of the ``due`` fire times (ascending, none after ``now``) run, and which
    are recorded missed."""
    due = list(due)
    if not due:
        return Plan([], [])
    limit = now - timedelta(seconds=grace_s)
    on_time = [t for t in due if t >= limit]
    if catchup == "all":
        run = due[-max(catchup_max, 1) :]
    elif catchup == "latest":
        run = on_time or due[-1:]
    elif catchup == "none":
        run = on_time
    else:
        raise ValueError(f"unknown catch-up policy {catchup!r}")
    chosen = set(run)
    return Plan(run, [t for t in due if t not in chosen])


def overlap_action(policy: str, *, previous_running: bool) -> str:
    """``run``, ``skip`` or ``queue`` (after the previous run)."""
    if policy not in OVERLAP:
        raise ValueError(f"unknown overlap policy {policy!r}")
    if not previous_running or policy == "allow":
        return "run"
    return policy


def jitter(schedule_id: str, scheduled_for: datetime, jitter_s: int) -> timedelta:
    """The delay of this fire time's job, 0 ≤ delay < jitter_s, stable per input."""
    if jitter_s <= 0:
        return timedelta(0)
    key = f"{schedule_id}|{scheduled_for.isoformat()}".encode()
    digest = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    return timedelta(milliseconds=digest % (jitter_s * 1000))


def triggerable(event_type: str) -> bool:
    """Whether a schedule may fire on this event type: not on schedules' own events
    (two schedules could set each other off for ever)."""
    return not event_type.startswith("schedule.")


def event_matches(
    event_filter: Mapping[str, object], data: Mapping[str, object]
) -> bool:
    """Whether an event's data holds every key of the filter with an equal value."""
    return all(
        key in data and data[key] == value and type(data[key]) is type(value)
        for key, value in event_filter.items()
    )
