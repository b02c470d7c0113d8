"""Which due job goes first. Pure: the rules the claim applies (in SQL on PostgreSQL,
with these functions on SQLite) and the sweeper's aging.

- **Aging**: a job waiting past its ``run_at`` rises one level per ``aging_s``
  seconds, up to critical, so low-priority work never starves.
- **Order**: best (aged) priority first; within a priority, job types take turns
  (fair share), each type's jobs oldest first.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import zip_longest
from typing import NamedTuple

CRITICAL = 3


class Candidate(NamedTuple):
    id: str
    type: str
    priority: int
    run_at: datetime


def aged(base: int, *, waited_s: float, aging_s: float) -> int:
    """The priority of a job asked at ``base`` after waiting ``waited_s`` seconds."""
    if waited_s <= 0:
        return base
    return min(base + int(waited_s // aging_s), max(base, CRITICAL))


def fair_order(candidates: Iterable[Candidate], limit: int) -> list[Candidate]:
    """Up to ``limit`` candidates: best priority first, types in turn within one."""
    by_priority: dict[int, dict[str, list[Candidate]]] = {}
    for candidate in candidates:
        by_type = by_priority.setdefault(candidate.priority, {})
        by_type.setdefault(candidate.type, []).append(candidate)
    chosen: list[Candidate] = []
    for priority in sorted(by_priority, reverse=True):
        chosen += _round_robin(by_priority[priority].values())
        if len(chosen) >= limit:
            break
    return chosen[:limit]


def _round_robin(queues: Iterable[Sequence[Candidate]]) -> list[Candidate]:
    ordered = [sorted(queue, key=lambda c: (c.run_at, c.id)) for queue in queues]
    ordered.sort(key=lambda queue: (queue[0].run_at, queue[0].id))
    return [c for turn in zip_longest(*ordered) for c in turn if c is not None]
