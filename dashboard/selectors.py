"""What the dashboard pages show, read through the core selectors."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from conductor import selectors
from conductor.models import Job
from conductor.states import ACTIVE, FINAL


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]
    total: int
    active: int
    finished: int
    recent: list[Job]
    workers: list[str]
    beat_seen: bool


def overview(*, recent: int = 15) -> Overview:
    counts = selectors.job_counts_by_state()
    since = timezone.now() - timedelta(minutes=2)
    seen = list(selectors.heartbeats_since(since=since).values_list("name", "kind"))
    return Overview(
        counts=counts,
        total=sum(counts.values()),
        active=sum(n for state, n in counts.items() if state in ACTIVE),
        finished=sum(n for state, n in counts.items() if state in FINAL),
        recent=list(selectors.job_list()[:recent]),
        workers=[name for name, kind in seen if kind == "worker"],
        beat_seen=any(kind == "beat" for _, kind in seen),
    )
