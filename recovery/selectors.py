"""Reading recovery data: policies and rules for decisions, breakers, dead letters."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min, OuterRef, QuerySet, Subquery
from django.db.models.functions import TruncDate

from conductor import secrets
from conductor.errors import NotFound, ValidationFailed
from conductor.models import JobType
from recovery import backoff, classify
from recovery.models import (
    BreakerTransition,
    CircuitBreaker,
    DeadLetter,
    ErrorRule,
    Resubmission,
    RetryPolicy,
)

# --- retry policies and error rules --------------------------------------------


def default_retry_policy() -> backoff.Policy:
    """The global default, from settings (checked at start by conductor.checks)."""
    return backoff.Policy(
        max_retries=settings.CONDUCTOR_JOBS_DEFAULT_MAX_RETRIES,
        initial_delay_ms=settings.CONDUCTOR_RETRY_INITIAL_DELAY_MS,
        max_delay_ms=settings.CONDUCTOR_RETRY_MAX_DELAY_MS,
        strategy=settings.CONDUCTOR_RETRY_STRATEGY,
        backoff_multiplier=settings.CONDUCTOR_RETRY_MULTIPLIER,
        jitter=settings.CONDUCTOR_RETRY_JITTER,
    )


def retry_policy_get(*, name: str) -> RetryPolicy:
    try:
        return RetryPolicy.objects.get(name=name)
    except RetryPolicy.DoesNotExist:
        raise NotFound(f"no retry policy named {name!r}") from None


def retry_policies_named(*, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The fields of each named policy among ``names`` that exists (for a submit)."""
    wanted = {name for name in names if isinstance(name, str)}
    if not wanted:
        return {}
    return {
        row.name: row.as_dict() for row in RetryPolicy.objects.filter(name__in=wanted)
    }


def policy_names(policies: Iterable[Any]) -> set[str]:
    """The names that job policies (a name, or fields with ``name``) refer to."""
    found = set()
    for policy in policies:
        name = policy.get("name") if isinstance(policy, dict) else policy
        if isinstance(name, str):
            found.add(name)
    return found


def retry_policy_list() -> QuerySet[RetryPolicy]:
    return RetryPolicy.objects.order_by("name")


def _layer(base: backoff.Policy, layer: Any, prefix: str) -> backoff.Policy:
    """Apply one layer: a dict of fields, possibly naming a policy under ``name``."""
    if not layer:
        return base
    if isinstance(layer, str):
        layer = {"name": layer}
    fields = dict(layer)
    name = fields.pop("name", None)
    if name:
        named = RetryPolicy.objects.filter(name=name).first()
        if named is not None:
            base = backoff.merged(
                base, named.as_dict(), prefix=prefix, max_retries_cap=100
            )
    return backoff.merged(base, fields, prefix=prefix, max_retries_cap=100)


def retry_policy_for(*, job_type: JobType, job_policy: Any = None) -> backoff.Policy:
    """The policy a job fails by: default → type (named, code, admin) → job."""
    policy = default_retry_policy()
    for layer in (
        job_type.retry_policy_name, job_type.retry_policy,
        job_type.override_retry_policy, job_policy,
    ):  # fmt: skip
        try:
            policy = _layer(policy, layer, "retry_policy")
        except ValidationFailed:
            continue  # a layer that no longer validates is skipped, not fatal
    return policy


def error_rules() -> list[classify.Rule]:
    rows = ErrorRule.objects.filter(enabled=True).order_by("order", "id")
    return [
        classify.Rule(match=r.match, pattern=r.pattern, retryable=r.retryable,
                      order=r.order, id=r.id)
        for r in rows
    ]  # fmt: skip


def error_rule_list() -> QuerySet[ErrorRule]:
    return ErrorRule.objects.order_by("order", "id")


def error_rule_get(*, id: Any) -> ErrorRule:
    try:
        return ErrorRule.objects.get(id=id)
    except (ErrorRule.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no error rule with id {id}") from None


# --- breakers ----------------------------------------------------------------------


def breaker_list() -> QuerySet[CircuitBreaker]:
    return CircuitBreaker.objects.order_by("service_name")


def breaker_get(*, service: str) -> CircuitBreaker:
    try:
        return CircuitBreaker.objects.get(service_name=service)
    except CircuitBreaker.DoesNotExist:
        raise NotFound(f"no breaker for service {service!r}") from None


def breaker_transitions(*, breaker: CircuitBreaker) -> QuerySet[BreakerTransition]:
    return breaker.transitions.order_by("-created_at", "-id")


def breaker_open_until(*, service: str) -> datetime | None:
    row = CircuitBreaker.objects.filter(service_name=service).first()
    if row is None:
        return None
    return row.open_until()


def breakers_by_status() -> dict[str, list[CircuitBreaker]]:
    found: dict[str, list[CircuitBreaker]] = defaultdict(list)
    for row in CircuitBreaker.objects.exclude(state=CircuitBreaker.State.CLOSED):
        found[row.state].append(row)
    return found


# --- dead letters --------------------------------------------------------------


def dead_letter_list(
    *, job: str | None = None, status: str | None = None, job_type: str | None = None,
    signature: str | None = None, error_code: str | None = None,
) -> QuerySet[DeadLetter]:  # fmt: skip
    entries = DeadLetter.objects.all()
    if job:
        entries = entries.filter(job_id=job)
    if status == "open":
        entries = entries.filter(resolved_at__isnull=True)
    elif status:
        entries = entries.filter(resolution=status)
    if job_type:
        entries = entries.filter(job_type=job_type)
    if signature:
        entries = entries.filter(signature=signature)
    if error_code:
        entries = entries.filter(error_code=error_code)
    return entries


def dead_letter_get(*, id: Any) -> DeadLetter:
    try:
        return DeadLetter.objects.get(id=id)
    except (DeadLetter.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no dead letter with id {id}") from None


def snapshot_shown(entry: DeadLetter) -> dict[str, Any]:
    """The entry's snapshot as people see it: the payload's secrets masked."""
    snap = entry.snapshot
    return {**snap, "payload": secrets.shown(snap.get("payload"), entry.job_type)}


def dead_letter_resubmissions(*, entry: DeadLetter) -> QuerySet[Resubmission]:
    """The audit records of an entry's resubmits, newest first."""
    return entry.resubmissions.order_by("-created_at", "-id")


def dead_letter_analysis(
    *, now: datetime, days: int = 14, include_resolved: bool = False
) -> list[dict]:
    """Entries grouped by error signature: counts, first/last seen, daily trend."""
    entries = DeadLetter.objects.all()
    if not include_resolved:
        entries = entries.filter(resolved_at__isnull=True)
    latest = entries.filter(signature=OuterRef("signature")).order_by("-added_at")
    groups = list(
        entries.values("signature", "signature_text", "job_type", "error_code")
        .annotate(count=Count("id"), first_seen=Min("added_at"),
                  last_seen=Max("added_at"),
                  sample_message=Subquery(latest.values("error_message")[:1]))
        .order_by("-count", "-last_seen")[:200]
    )  # fmt: skip
    start = (now - timedelta(days=days - 1)).date()
    trend = _daily(entries.filter(added_at__date__gte=start), start, days)
    for group in groups:
        group["trend"] = trend.get(group["signature"], [0] * days)
        group["sample_message"] = (group["sample_message"] or "")[:500]
    return groups


def _daily(entries, start, days) -> dict[str, list[int]]:
    rows = (
        entries.annotate(day=TruncDate("added_at"))
        .values("signature", "day")
        .annotate(n=Count("id"))
    )
    trend: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for row in rows:
        index = (row["day"] - start).days
        if 0 <= index < days:
            trend[row["signature"]][index] = row["n"]
    return trend
