"""Schedule shapes: what a client sends, and what it reads back.

Shapes and bounds are checked here; what needs the rest of the schedule or the
database (the cron expression and time zone, exactly one trigger and one target,
the payload against its type's schema) by ``scheduling.services`` — each problem
named by its field either way.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conductor import names
from conductor.api.fields import (
    AnyJsonField,
    PatternField,
    PayloadField,
    StrictInput,
    TextField,
    TrueFalseField,
    WholeNumberField,
)
from conductor.models import Priority
from scheduling import cron, policies, selectors
from scheduling.cron import MAX_COUNT
from scheduling.models import (
    CatchupPolicy,
    OverlapPolicy,
    RunStatus,
    Schedule,
    ScheduleRun,
)

CRON_HELP = (
    "5 fields (minute hour day-of-month month day-of-week: numbers, names, ranges, "
    "steps, lists) or an alias (@hourly, @daily, @weekly, @monthly, @yearly); a day "
    "matches if either restricted day field matches, as in cron"
)


class ScheduleJobIn(StrictInput):
    type = PatternField(names.ANCHORED, help_text="a registered job type")
    payload = PayloadField(
        required=False, default=dict, help_text="validated against the type's schema"
    )


class SchedulePatchIn(StrictInput):
    """Fields to change; the schedule is validated again as a whole."""

    name = PatternField(names.ANCHORED, required=False)
    description = TextField(max_length=2000, required=False, allow_blank=True)
    cron = TextField(max_length=200, required=False, help_text=CRON_HELP)
    timezone = TextField(
        max_length=64, required=False, help_text="IANA, e.g. Europe/London"
    )
    event_type = PatternField(
        names.ANCHORED, required=False,
        help_text="fire on each journal event of this type instead of a cron",
    )  # fmt: skip
    event_filter = serializers.DictField(
        child=AnyJsonField(), required=False,
        help_text="fire only for events whose data holds these fields and values",
    )  # fmt: skip
    job = ScheduleJobIn(required=False, help_text="the target: a job")
    workflow = PatternField(
        names.ANCHORED, required=False, help_text="the target: a stored workflow"
    )
    priority = serializers.ChoiceField(choices=Priority.labels, required=False)
    enabled = TrueFalseField(required=False)
    overlap_policy = serializers.ChoiceField(
        choices=OverlapPolicy.values, required=False
    )
    catchup_policy = serializers.ChoiceField(
        choices=CatchupPolicy.values, required=False
    )
    catchup_max = WholeNumberField(
        min_value=1, max_value=policies.CATCHUP_MAX, required=False
    )
    jitter_s = WholeNumberField(
        min_value=0, max_value=policies.JITTER_MAX_S, required=False
    )


class ScheduleIn(SchedulePatchIn):
    name = PatternField(names.ANCHORED)
    timezone = TextField(max_length=64, required=False, default="UTC")


class ScheduleOut(serializers.ModelSerializer):
    cron_description = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField()
    workflow = serializers.SlugRelatedField(slug_field="name", read_only=True)
    priority = serializers.SerializerMethodField()
    periodic_task = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Schedule
        fields = [
            "id", "name", "description", "cron", "cron_description", "timezone",
            "event_type", "event_filter", "job", "workflow", "priority", "enabled",
            "overlap_policy", "catchup_policy", "catchup_max", "jitter_s",
            "next_execution_at", "last_execution_at", "periodic_task", "created_by",
            "created_at", "updated_at",
        ]  # fmt: skip

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_cron_description(self, row: Schedule):
        return cron.describe(row.cron) if row.cron else None

    @extend_schema_field(ScheduleJobIn(allow_null=True))
    def get_job(self, row: Schedule):
        if not row.job_type:
            return None
        return {"type": row.job_type, "payload": selectors.payload_shown(row)}

    @extend_schema_field(
        serializers.ChoiceField(choices=Priority.labels, allow_null=True)
    )
    def get_priority(self, row: Schedule):
        return row.priority or None


class ScheduleRunOut(serializers.ModelSerializer):
    schedule = serializers.SlugRelatedField(slug_field="name", read_only=True)
    status = serializers.ChoiceField(choices=RunStatus.values)

    class Meta:
        model = ScheduleRun
        fields = [
            "id", "schedule", "trigger", "scheduled_for", "started_at", "completed_at",
            "status", "error", "execution_time_ms", "job", "workflow_run", "event_id",
            "actor",
        ]  # fmt: skip


class HistoryFilterIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=RunStatus.values, required=False)


class PreviewIn(serializers.Serializer):
    """The next fire times of an expression, computed without creating anything."""

    cron = TextField(max_length=200, help_text=CRON_HELP)
    timezone = TextField(max_length=64, required=False, default="UTC")
    after = serializers.DateTimeField(required=False, help_text="default: now")
    count = serializers.IntegerField(
        min_value=1, max_value=MAX_COUNT, required=False, default=5
    )


class SchedulePreviewIn(serializers.Serializer):
    after = serializers.DateTimeField(required=False, help_text="default: now")
    count = serializers.IntegerField(
        min_value=1, max_value=MAX_COUNT, required=False, default=5
    )


class PreviewOut(serializers.Serializer):
    cron = serializers.CharField()
    timezone = serializers.CharField()
    description = serializers.CharField()
    fire_times = serializers.ListField(
        child=serializers.CharField(), help_text="ISO 8601 with the zone's offset"
    )
