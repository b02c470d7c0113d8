"""Retry-policy and error-rule shapes. Bounds as ``recovery.backoff`` checks them."""

from rest_framework import serializers

from conductor import names
from conductor.api.fields import (
    NumberField,
    PatternField,
    StrictInput,
    TextField,
    TrueFalseField,
    WholeNumberField,
)
from recovery import backoff
from recovery.models import STRATEGY_CHOICES, ErrorRule, RetryPolicy


def _codes() -> serializers.ListField:
    return serializers.ListField(
        child=TextField(max_length=backoff.MAX_CODE_LENGTH),
        max_length=backoff.MAX_CODES,
        required=False,
    )


def _bounded(bounds: tuple, field=WholeNumberField, **options):
    low, high = bounds
    return field(min_value=low, max_value=high, required=False, **options)


class PolicyFieldsIn(StrictInput):
    """A retry policy's fields, bounds as ``recovery.backoff`` checks them; the
    policy as a whole is validated again (``max_delay_ms ≥ initial_delay_ms`` …)."""

    max_retries = _bounded((0, backoff.MAX_RETRIES_HARD_CAP))
    initial_delay_ms = _bounded(backoff.INITIAL_DELAY_MS)
    max_delay_ms = _bounded(backoff.MAX_DELAY_MS, help_text="≥ initial_delay_ms")
    strategy = serializers.ChoiceField(choices=STRATEGY_CHOICES, required=False)
    backoff_multiplier = _bounded(backoff.MULTIPLIER, NumberField)
    jitter = _bounded(backoff.JITTER, NumberField)
    delays_ms = serializers.ListField(
        child=WholeNumberField(min_value=0, max_value=backoff.MAX_DELAY_MS[1]),
        max_length=backoff.MAX_DELAYS,
        required=False,
        help_text="strategy custom: the delays, each ≤ max_delay_ms",
    )
    retryable_errors = _codes()
    non_retryable_errors = _codes()


class RetryPolicyPatchIn(PolicyFieldsIn):
    """Fields of a named policy to change."""

    description = TextField(max_length=2000, required=False, allow_blank=True)


class RetryPolicyIn(RetryPolicyPatchIn):
    name = PatternField(names.ANCHORED)


class JobRetryPolicyIn(PolicyFieldsIn):
    """A job's own policy: fields over its type's, or over the policy ``name``d."""

    name = PatternField(
        names.ANCHORED, required=False, allow_null=True, help_text="a named policy"
    )
    max_retries = _bounded((0, backoff.MAX_RETRIES_DEFAULT_CAP))


class RetryPolicyOut(serializers.ModelSerializer):
    delays_ms = serializers.ListField(child=serializers.IntegerField())
    retryable_errors = serializers.ListField(child=serializers.CharField())
    non_retryable_errors = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = RetryPolicy
        fields = ["name", "description", *RetryPolicy.POLICY_FIELDS, "created_by",
                  "created_at", "updated_at"]  # fmt: skip


# --- error rules ----------------------------------------------------------------


class ErrorRulePatchIn(StrictInput):
    match = serializers.ChoiceField(choices=ErrorRule.Match.choices, required=False)
    pattern = TextField(
        max_length=200,
        required=False,
        help_text="an exact code or class name; a trailing * matches more",
    )
    retryable = TrueFalseField(required=False)
    order = WholeNumberField(
        min_value=-1_000_000,
        max_value=1_000_000,
        required=False,
        help_text="lower first",
    )
    enabled = TrueFalseField(required=False)
    description = TextField(max_length=2000, required=False, allow_blank=True)


class ErrorRuleIn(ErrorRulePatchIn):
    pattern = TextField(
        max_length=200,
        help_text="an exact code or class name; a trailing * matches more",
    )
    retryable = TrueFalseField()


class ErrorRuleOut(serializers.ModelSerializer):
    class Meta:
        model = ErrorRule
        fields = ["id", "match", "pattern", "retryable", "order", "enabled",
                  "description", "created_by", "created_at", "updated_at"]  # fmt: skip
