"""Circuit breakers: every change is a locked row, a pure decision, a journal entry.

The row is locked (``select_for_update``) for the whole change, so two workers cannot
both trip it or both take the half-open trial; each status change writes a
``BreakerTransition`` row and a ``breaker.opened|half_opened|closed`` event in the
same transaction.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conductor.errors import NotFound
from conductor.journal.catalogue import BREAKER_UPDATED, breaker_transition
from conductor.journal.writer import event_record
from recovery import breaker
from recovery.models import BreakerTransition, CircuitBreaker


def _store(row: CircuitBreaker, state: breaker.BreakerState) -> None:
    row.state = state.status
    row.failures = [t.isoformat() for t in state.failures]
    row.opened_at = state.opened_at
    row.successes = state.successes
    row.trial_job = state.trial_job or ""
    row.trial_until = state.trial_until
    row.save(
        update_fields=[
            "state", "failures", "opened_at", "successes", "trial_job",
            "trial_until", "updated_at",
        ]
    )  # fmt: skip


def _defaults() -> dict:
    return {
        "failure_threshold": settings.CONDUCTOR_BREAKER_FAILURE_THRESHOLD,
        "success_threshold": settings.CONDUCTOR_BREAKER_SUCCESS_THRESHOLD,
        "timeout_ms": settings.CONDUCTOR_BREAKER_TIMEOUT_MS,
        "monitoring_window_ms": settings.CONDUCTOR_BREAKER_WINDOW_MS,
    }


def breaker_ensure(*, service: str) -> CircuitBreaker:
    """The breaker of ``service``, made with the default thresholds if new."""
    row = CircuitBreaker.objects.filter(service_name=service).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return CircuitBreaker.objects.create(service_name=service, **_defaults())
    except IntegrityError:  # made meanwhile by someone else
        return CircuitBreaker.objects.get(service_name=service)


def _locked(service: str) -> CircuitBreaker:
    breaker_ensure(service=service)
    return CircuitBreaker.objects.select_for_update().get(service_name=service)


def _change(
    row: CircuitBreaker, new: breaker.BreakerState, *, reason: str, actor: str,
    now: datetime,
) -> None:  # fmt: skip
    old = row.as_state()
    _store(row, new)
    transition = breaker.transition_of(old, new)
    if transition is None:
        return
    BreakerTransition.objects.create(
        breaker=row, from_state=old.status, to_state=new.status, reason=reason[:500],
        actor=actor, created_at=now,
    )  # fmt: skip
    until = breaker.open_until(new, policy=row.policy())
    event_record(
        type=breaker_transition(transition), subject=("breaker", row.service_name),
        actor=actor, at=now,
        data={
            "service": row.service_name, "from": old.status, "to": new.status,
            "reason": reason, "open_until": until.isoformat() if until else None,
        },
    )  # fmt: skip


@dataclass(frozen=True)
class BreakerReport:
    """What one finished job tells its breaker."""

    job_id: str
    succeeded: bool
    counts: bool  # a failure the service is to blame for (retryable), or a success
    at: datetime


@transaction.atomic
def breaker_record(
    *, service: str, outcomes: Iterable[BreakerReport]
) -> CircuitBreaker:
    """Feed a batch of outcomes to the breaker, in time order."""
    row = _locked(service)
    policy = row.policy()
    for outcome in sorted(outcomes, key=lambda o: o.at):
        state = row.as_state()
        if outcome.job_id == state.trial_job and not outcome.counts:
            new = breaker.release_trial(state, job_id=outcome.job_id)
        elif outcome.succeeded:
            new = breaker.on_success(state, now=outcome.at, policy=policy,
                                     job_id=outcome.job_id)  # fmt: skip
        elif outcome.counts:
            new = breaker.on_failure(state, now=outcome.at, policy=policy)
        else:
            continue
        reason = "a job succeeded" if outcome.succeeded else "a job failed"
        _change(row, new, reason=f"{reason} ({outcome.job_id})", actor="system",
                now=outcome.at)  # fmt: skip
    return row


@transaction.atomic
def breakers_half_open_due(*, now: datetime) -> list[str]:
    """Move every open breaker whose timeout has passed to half_open."""
    moved = []
    rows = CircuitBreaker.objects.select_for_update(skip_locked=True).filter(
        state=CircuitBreaker.State.OPEN
    )
    for row in rows:
        state = row.as_state()
        if breaker.may_half_open(state, now=now, policy=row.policy()):
            new = breaker.half_open(state, now=now, policy=row.policy())
            _change(row, new, reason="timeout passed", actor="system", now=now)
            moved.append(row.service_name)
    return moved


def breaker_admit_trial(
    *, row: CircuitBreaker, job_id: str, now: datetime, lease_ms: int
) -> bool:
    """In the claim's transaction, with ``row`` locked: may this job be the trial?"""
    new, admitted = breaker.admit_trial(
        row.as_state(), now=now, job_id=job_id, lease_ms=lease_ms
    )
    if admitted:
        _store(row, new)
    return admitted


def _operator(service: str, change, reason: str, actor: str) -> CircuitBreaker:
    with transaction.atomic():
        try:
            row = CircuitBreaker.objects.select_for_update().get(service_name=service)
        except CircuitBreaker.DoesNotExist:
            raise NotFound(f"no breaker for service {service!r}") from None
        now = timezone.now()
        _change(row, change(row.as_state(), now=now), reason=reason, actor=actor,
                now=now)  # fmt: skip
        return row


def breaker_reset(*, service: str, actor: str) -> CircuitBreaker:
    return _operator(service, breaker.reset, "reset by an operator", actor)


def breaker_force_open(*, service: str, actor: str) -> CircuitBreaker:
    return _operator(service, breaker.force_open, "forced open by an operator", actor)


@transaction.atomic
def breaker_update(*, service: str, changes: dict, actor: str) -> CircuitBreaker:
    """Change thresholds (validated; errors name the field and the bound)."""
    try:
        row = CircuitBreaker.objects.select_for_update().get(service_name=service)
    except CircuitBreaker.DoesNotExist:
        raise NotFound(f"no breaker for service {service!r}") from None
    policy = breaker.BreakerPolicy.from_dict({**row.policy().as_dict(), **changes})
    changed = {k: v for k, v in policy.as_dict().items() if getattr(row, k) != v}
    for name, value in changed.items():
        setattr(row, name, value)
    if changed:
        row.save(update_fields=[*changed, "updated_at"])
        event_record(
            type=BREAKER_UPDATED, subject=("breaker", service), actor=actor,
            data=changed,
        )  # fmt: skip
    return row
