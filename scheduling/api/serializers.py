"""Schedule shapes: what a client sends, and what it reads back.

Checked here, and said by the OpenAPI document as precisely as it can: shapes and
bounds, the time zone and event type (each a named list of choices, ``TimeZone`` and
``EventType``), the filter's size and scalar values, and that the cron expression
parses (which no schema can say). What needs the rest of the schedule or the
database (exactly one trigger and one target, as stored after a change; the payload
against its type's schema; filter fields the event type has) by
``scheduling.services``. Each problem is named by its field either way.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

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
from conductor.errors import ValidationFailed
from conductor.journal import catalogue
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


def cron_valid(value: str) -> None:
    """A validator: ``scheduling.cron`` reads the expression (no schema can say
    which text parses); each problem's message names the cron sub-field."""
    try:
        cron.parse(value, "UTC")
    except ValidationFailed as exc:
        raise serializers.ValidationError(
            [ErrorDetail(e.message, code=e.code) for e in exc.errors]
        ) from None


def cron_field(**kwargs) -> TextField:
    return TextField(
        max_length=cron.MAX_LENGTH, help_text=CRON_HELP, validators=[cron_valid],
        **kwargs,
    )  # fmt: skip


class NamedChoiceField(serializers.ChoiceField):
    """One of a long list of names, documented once as the component ``component``
    (``NamedChoicesScheme``) rather than copied, a line per name, at every use."""

    component = ""


class NamedChoicesScheme(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = {"type": "string", "enum": list(field.choices)}
        component = ResolvedComponent(
            name=field.component, type=ResolvedComponent.SCHEMA,
            schema=schema, object=type(field),
        )  # fmt: skip
        auto_schema.registry.register_on_missing(component)
        return component.ref


class TimeZoneField(NamedChoiceField):
    """An IANA time zone of this server's zone database (a client can tell a good
    one before sending it)."""

    component = "TimeZone"
    default_error_messages = {"invalid_choice": '"{input}" is not an IANA time zone'}

    def __init__(self, **kwargs):
        zones = sorted(cron.time_zones())
        super().__init__(choices=zones, help_text="IANA, e.g. Europe/London", **kwargs)


class EventTypeField(NamedChoiceField):
    """A type of the event catalogue that a schedule may fire on."""

    component = "EventType"
    default_error_messages = {
        "invalid_choice": '"{input}" is not an event type (docs/events.md lists them)'
    }

    def __init__(self, **kwargs):
        kinds = [
            kind.name
            for kind in catalogue.all_types()
            if policies.triggerable(kind.name)
        ]
        super().__init__(choices=kinds, **kwargs)


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": policies.FILTER_KEYS_MAX,
        "additionalProperties": {"type": ["string", "number", "boolean"]},
    }
)
class EventFilterField(serializers.DictField):
    """Fields of the event's data and the JSON scalars they must equal (which fields
    an event type has is checked by ``scheduling.services``)."""

    default_error_messages = {
        "too_many": f"at most {policies.FILTER_KEYS_MAX} fields",
        "not_scalar": "a JSON scalar (text, a number, true or false)",
    }

    def __init__(self, **kwargs):
        super().__init__(child=AnyJsonField(), **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > policies.FILTER_KEYS_MAX:
            self.fail("too_many")
        bad = [key for key, item in value.items() if not _scalar(item)]
        if bad:
            raise serializers.ValidationError(
                {key: [self.error_messages["not_scalar"]] for key in bad}
            )
        return value


def _scalar(value) -> bool:
    return isinstance(value, str | int | float | bool)


class ScheduleJobIn(StrictInput):
    type = PatternField(names.ANCHORED, help_text="a registered job type")
    payload = PayloadField(
        required=False, default=dict, help_text="validated against the type's schema"
    )


class SchedulePatchIn(StrictInput):
    """Fields to change; the schedule is validated again as a whole."""

    name = PatternField(names.ANCHORED, required=False)
    description = TextField(max_length=2000, required=False, allow_blank=True)
    cron = cron_field(required=False)
    timezone = TimeZoneField(required=False)
    event_type = EventTypeField(
        required=False,
        help_text="fire on each journal event of this type instead of a cron",
    )
    event_filter = EventFilterField(
        required=False,
        help_text="fire only for events whose data holds these fields and values",
    )
    job = ScheduleJobIn(required=False, help_text="the target: a job")
    workflow = PatternField(
        names.ANCHORED, required=False, help_text="the target: a stored workflow"
    )
    priority = serializers.ChoiceField(choices=Priority.labels, required=False)
    enabled = TrueFalseField(required=False)
    overlap_policy = serializers.ChoiceField(
        choices=OverlapPolicy.choices, required=False
    )
    catchup_policy = serializers.ChoiceField(
        choices=CatchupPolicy.choices, required=False
    )
    catchup_max = WholeNumberField(
        min_value=1, max_value=policies.CATCHUP_MAX, required=False
    )
    jitter_s = WholeNumberField(
        min_value=0, max_value=policies.JITTER_MAX_S, required=False
    )


class ScheduleIn(SchedulePatchIn):
    name = PatternField(names.ANCHORED)
    timezone = TimeZoneField(required=False, default="UTC")


class ScheduleOut(serializers.ModelSerializer):
    cron_description = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField()
    workflow = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    priority = serializers.SerializerMethodField()
    periodic_task = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True,
        help_text="the beat entry that fires it (none for event triggers)",
    )  # fmt: skip

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

    cron = cron_field()
    timezone = TimeZoneField(required=False, default="UTC")
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
