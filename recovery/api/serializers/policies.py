"""Retry-policy and error-rule shapes. Bounds as ``recovery.backoff`` checks them."""

from rest_framework import serializers

from conductor import names
from conductor.api.serializers import StrictInput
from recovery import backoff
from recovery.api.serializers.fields import (
    NumberField,
    PatternField,
    TextField,
    TrueFalseField,
    WholeNumberField,
)
from recovery.models import ErrorRule, RetryPolicy


def _codes() -> serializers.ListField:
    return serializers.ListField(
        child=TextField(max_length=backoff.MAX_CODE_LENGTH),
        max_length=backoff.MAX_CODES,
        required=False,
    )


class RetryPolicyPatchIn(StrictInput):
    """Fields to change; the policy as a whole is validated again."""

    description = TextField(max_length=2000, required=False, allow_blank=True)
    max_retries = WholeNumberField(
        min_value=0, max_value=backoff.MAX_RETRIES_HARD_CAP, required=False
    )
    initial_delay_ms = WholeNumberField(min_value=100, max_value=60_000, required=False)
    max_delay_ms = WholeNumberField(
        min_value=1_000,
        max_value=300_000,
        required=False,
        help_text="≥ initial_delay_ms",
    )
    strategy = serializers.ChoiceField(
        choices=RetryPolicy.Strategy.choices, required=False
    )
    backoff_multiplier = NumberField(min_value=1, max_value=10, required=False)
    jitter = NumberField(min_value=0, max_value=1, required=False)
    delays_ms = serializers.ListField(
        child=WholeNumberField(min_value=0, max_value=300_000),
        max_length=backoff.MAX_DELAYS,
        required=False,
        help_text="strategy custom: the delays, each ≤ max_delay_ms",
    )
    retryable_errors = _codes()
    non_retryable_errors = _codes()


class RetryPolicyIn(RetryPolicyPatchIn):
    name = PatternField(names.ANCHORED)


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
