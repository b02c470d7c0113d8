"""Named retry policies and error rules: what operators configure, journalled.

Both are read at every retry decision (``conductor.engine.judge``), so a change
applies to the next failure without a restart.
"""

from typing import Any

from django.db import IntegrityError, transaction

from conductor import names
from conductor.errors import Conflict, FieldError, ValidationFailed
from conductor.journal.catalogue import (
    ERROR_RULE_CREATED,
    ERROR_RULE_DELETED,
    ERROR_RULE_UPDATED,
    RETRY_POLICY_CREATED,
    RETRY_POLICY_DELETED,
    RETRY_POLICY_UPDATED,
)
from conductor.journal.writer import event_record
from recovery import backoff, classify
from recovery.models import ErrorRule, RetryPolicy
from recovery.selectors import error_rule_get, retry_policy_get


def _policy_fields(data: dict, *, base: dict | None = None) -> dict:
    """Validated policy fields (errors name the field and its bound)."""
    fields = {k: v for k, v in data.items() if k not in ("name", "description")}
    policy = backoff.Policy.from_dict(
        {**(base or {}), **fields}, prefix="", max_retries_cap=100
    )
    return policy.as_dict()


@transaction.atomic
def retry_policy_create(*, data: dict, actor: str) -> RetryPolicy:
    name = names.checked(data.get("name"))
    fields = _policy_fields(data)
    try:
        with transaction.atomic():
            row = RetryPolicy.objects.create(
                name=name, description=str(data.get("description", ""))[:2000],
                created_by=actor, **fields,
            )  # fmt: skip
    except IntegrityError:
        raise Conflict(f"a retry policy named {name!r} exists already") from None
    event_record(type=RETRY_POLICY_CREATED, subject=("retrypolicy", name),
                 actor=actor, data=fields)  # fmt: skip
    return row


@transaction.atomic
def retry_policy_update(*, name: str, data: dict, actor: str) -> RetryPolicy:
    row = retry_policy_get(name=name)
    fields = _policy_fields(data, base=row.as_dict())
    changed = {k: v for k, v in fields.items() if getattr(row, k) != v}
    if "description" in data:
        row.description = str(data["description"])[:2000]
        changed["description"] = row.description
    if not changed:
        return row
    for key, value in changed.items():
        setattr(row, key, value)
    row.save(update_fields=[*changed, "updated_at"])
    event_record(type=RETRY_POLICY_UPDATED, subject=("retrypolicy", name),
                 actor=actor, data=changed)  # fmt: skip
    return row


@transaction.atomic
def retry_policy_delete(*, name: str, actor: str) -> None:
    row = retry_policy_get(name=name)
    row.delete()
    event_record(type=RETRY_POLICY_DELETED, subject=("retrypolicy", name),
                 actor=actor, data={})  # fmt: skip


def _rule_fields(data: dict, *, base: dict | None = None) -> dict:
    merged = {**(base or {}), **data}
    errors = []
    unknown = set(data) - {"match", "pattern", "retryable", "order", "enabled",
                           "description"}  # fmt: skip
    errors += [FieldError(name, "unknown field", "unknown_field") for name in unknown]
    if merged.get("match", "code") not in classify.MATCHES:
        errors.append(
            FieldError("match", f"one of {classify.MATCHES}", "invalid_choice")
        )
    pattern = merged.get("pattern")
    if not isinstance(pattern, str) or not 1 <= len(pattern.strip()) <= 200:
        errors.append(FieldError("pattern", "1 to 200 characters", "invalid"))
    if not isinstance(merged.get("retryable"), bool):
        errors.append(FieldError("retryable", "must be true or false", "type"))
    order = merged.get("order", 0)
    if not isinstance(order, int) or isinstance(order, bool) or abs(order) > 10**6:
        errors.append(FieldError("order", "an integer (±1,000,000)", "type"))
    if not isinstance(merged.get("enabled", True), bool):
        errors.append(FieldError("enabled", "must be true or false", "type"))
    if errors:
        raise ValidationFailed(errors)
    return {
        "match": merged.get("match", "code"), "pattern": pattern.strip(),
        "retryable": merged["retryable"], "order": order,
        "enabled": merged.get("enabled", True),
        "description": str(merged.get("description", ""))[:2000],
    }  # fmt: skip


@transaction.atomic
def error_rule_create(*, data: dict, actor: str) -> ErrorRule:
    fields = _rule_fields(data)
    try:
        with transaction.atomic():
            row = ErrorRule.objects.create(created_by=actor, **fields)
    except IntegrityError:
        raise Conflict(
            f"a rule for {fields['match']} {fields['pattern']!r} exists already"
        ) from None
    event_record(type=ERROR_RULE_CREATED, subject=("errorrule", str(row.id)),
                 actor=actor, data=fields)  # fmt: skip
    return row


@transaction.atomic
def error_rule_update(*, id: Any, data: dict, actor: str) -> ErrorRule:
    row = error_rule_get(id=id)
    base = {k: getattr(row, k) for k in ("match", "pattern", "retryable", "order",
                                         "enabled", "description")}  # fmt: skip
    fields = _rule_fields(data, base=base)
    for key, value in fields.items():
        setattr(row, key, value)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise Conflict("another rule has this match and pattern") from None
    event_record(type=ERROR_RULE_UPDATED, subject=("errorrule", str(row.id)),
                 actor=actor, data=fields)  # fmt: skip
    return row


@transaction.atomic
def error_rule_delete(*, id: Any, actor: str) -> None:
    row = error_rule_get(id=id)
    row.delete()
    event_record(type=ERROR_RULE_DELETED, subject=("errorrule", str(id)),
                 actor=actor, data={})  # fmt: skip
