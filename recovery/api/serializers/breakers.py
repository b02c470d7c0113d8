"""Circuit-breaker shapes: thresholds in, state and transitions out."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conductor.api.fields import StrictInput, WholeNumberField
from recovery import breaker
from recovery.models import BreakerTransition, CircuitBreaker

BREAKER_BOUNDS = breaker._BOUNDS  # (low, high) per threshold, as from_dict checks


def _bounded(name: str, **kwargs) -> WholeNumberField:
    low, high = BREAKER_BOUNDS[name]
    return WholeNumberField(min_value=low, max_value=high, **kwargs)


class BreakerPatchIn(StrictInput):
    failure_threshold = _bounded("failure_threshold", required=False)
    success_threshold = _bounded("success_threshold", required=False)
    timeout_ms = _bounded("timeout_ms", required=False)
    monitoring_window_ms = _bounded("monitoring_window_ms", required=False)


class BreakerOut(serializers.ModelSerializer):
    service = serializers.CharField(source="service_name")
    open_until = serializers.SerializerMethodField()
    failures_in_window = serializers.SerializerMethodField()
    trial_job = serializers.SerializerMethodField()

    class Meta:
        model = CircuitBreaker
        fields = [
            "service", "state", "failure_threshold", "success_threshold",
            "timeout_ms", "monitoring_window_ms", "opened_at", "open_until",
            "failures_in_window", "successes", "trial_job", "trial_until",
            "created_at", "updated_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_open_until(self, row: CircuitBreaker):
        until = row.open_until()
        return serializers.DateTimeField().to_representation(until) if until else None

    def get_failures_in_window(self, row: CircuitBreaker) -> int:
        start = timezone.now() - timedelta(milliseconds=row.monitoring_window_ms)
        return sum(1 for moment in row.as_state().failures if moment >= start)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_trial_job(self, row: CircuitBreaker):
        return row.trial_job or None


class BreakerTransitionOut(serializers.ModelSerializer):
    service = serializers.CharField(source="breaker.service_name")

    class Meta:
        model = BreakerTransition
        fields = ["id", "service", "from_state", "to_state", "reason", "actor",
                  "created_at"]  # fmt: skip
