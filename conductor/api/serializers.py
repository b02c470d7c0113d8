"""Input and output shapes of the core API. Names are globally unique (OpenAPI)."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conductor import names, secrets, states
from conductor.api.fields import (
    AnyJsonField,
    NumberField,
    PatternField,
    PayloadField,
    StrictInput,
    TextField,
    TrueFalseField,
    WholeNumberField,
)
from conductor.models import (
    DependencyFailure,
    DependencyMode,
    Event,
    Job,
    JobType,
    Priority,
    RetryAttempt,
)
from conductor.selectors import job_progress, job_type_stats
from conductor.services.job_requests import MAX_DEPENDENCIES
from recovery import backoff

PRIORITY_LABELS = [p.label for p in Priority]


class JobDependsOnIn(StrictInput):
    """Read by ``conductor.api.job_input``: ``null`` is taken as absent."""

    jobs = serializers.ListField(
        child=serializers.UUIDField(),
        max_length=MAX_DEPENDENCIES,
        required=False,
        allow_null=True,
    )
    mode = serializers.ChoiceField(
        choices=DependencyMode.choices, required=False, allow_null=True
    )
    on_failure = serializers.ChoiceField(
        choices=DependencyFailure.choices, required=False, allow_null=True
    )


class DependsOnField(serializers.JSONField):
    """A list of job ids, or ``{"jobs": [...], "mode", "on_failure"}``
    (described by ``conductor.api.openapi.DependsOnFieldScheme``)."""


class RetryPolicyField(serializers.JSONField):
    """A named retry policy, or fields over the type's (``JobRetryPolicyIn``)
    (described by ``conductor.api.openapi.RetryPolicyFieldScheme``)."""


def _optional(field_class, *args, **kwargs):
    """An optional field that may also be ``null`` (taken as absent)."""
    return field_class(*args, required=False, allow_null=True, **kwargs)


class JobSubmitIn(StrictInput):
    """Parsed by ``conductor.api.job_input`` (fast, also for bulk); described here.
    The document has one variant per registered job type, with its payload schema
    (``conductor.api.openapi_jobs``)."""

    type = TextField(max_length=100, help_text="a registered job type")
    payload = PayloadField(required=False, default=dict)
    priority = _optional(serializers.ChoiceField, choices=PRIORITY_LABELS)
    idempotency_key = _optional(TextField, max_length=255)
    run_at = _optional(serializers.DateTimeField)
    max_retries = _optional(
        WholeNumberField, min_value=0, max_value=backoff.MAX_RETRIES_DEFAULT_CAP
    )
    retry_policy = _optional(RetryPolicyField)
    timeout_s = _optional(WholeNumberField, min_value=1)
    parent = _optional(serializers.UUIDField, help_text="inherits its priority")
    depends_on = _optional(DependsOnField)
    dependency_mode = _optional(serializers.ChoiceField, choices=DependencyMode.choices)
    on_dependency_failure = _optional(
        serializers.ChoiceField, choices=DependencyFailure.choices
    )
    breaker = _optional(
        PatternField, names.ANCHORED, help_text="overrides the type's breaker"
    )


class JobBulkIn(StrictInput):
    jobs = JobSubmitIn(many=True, min_length=1, max_length=10_000)


class JobBulkOut(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField())
    created = serializers.IntegerField()
    replayed = serializers.IntegerField()


class JobExecuteIn(JobSubmitIn):
    wait_s = NumberField(
        min_value=0,
        required=False,
        help_text="how long to wait for the result, in seconds (default 30, at most "
        "CONDUCTOR_JOBS_EXECUTE_MAX_WAIT_S)",
    )


class JobCancelIn(StrictInput):
    reason = TextField(max_length=2000)
    mode = serializers.ChoiceField(choices=["graceful", "forced"], default="graceful")
    propagate = TrueFalseField(default=False)


class JobRetryIn(StrictInput):
    reason = TextField(max_length=2000, required=False, default="")


class JobReasonOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    data = serializers.DictField()


class JobExplainOut(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    reasons = JobReasonOut(many=True)


class JobResultFileOut(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField(allow_null=True)
    url = serializers.CharField()


class ResultReferenceOut(serializers.Serializer):
    """Where the result lives in another system (``ctx.refer``)."""

    uri = serializers.CharField(help_text="s3://bucket/key, https://… — any scheme")
    metadata = serializers.DictField(help_text="what the handler said of it")


class JobResultOut(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()
    result = AnyJsonField()
    file = JobResultFileOut(allow_null=True)
    reference = ResultReferenceOut(allow_null=True)


class JobProgressOut(serializers.Serializer):
    pct = serializers.FloatField(allow_null=True)
    stage = serializers.CharField()
    message = serializers.CharField()
    eta_s = serializers.FloatField(allow_null=True)
    updated_at = serializers.DateTimeField()


class JobProgressDetailOut(JobProgressOut):
    id = serializers.UUIDField()
    state = serializers.CharField()


class JobErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class JobSummaryOut(serializers.ModelSerializer):
    type = serializers.CharField(source="job_type_id")

    class Meta:
        model = Job
        fields = ["id", "type", "state", "attempts", "created_at", "finished_at"]


class JobOut(serializers.ModelSerializer):
    type = serializers.CharField(source="job_type_id")
    priority = serializers.SerializerMethodField()
    state = serializers.ChoiceField(choices=states.CHOICES)
    result = AnyJsonField()
    result_reference = ResultReferenceOut(allow_null=True)
    error = JobErrorOut(allow_null=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "type",
            "state",
            "priority",
            "queue",
            "payload",
            "payload_version",
            "attempts",
            "max_retries",
            "timeout_s",
            "run_at",
            "result",
            "result_reference",
            "error",
            "progress",
            "idempotency_key",
            "trace_id",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
            "parent",
            "workflow_run",
            "workflow_node",
            "dependency_mode",
            "on_dependency_failure",
            "cancel_reason",
            "cancelled_by",
        ]

    def to_representation(self, job: Job) -> dict:
        data = super().to_representation(job)
        data["payload"] = secrets.shown(data["payload"], job.job_type_id)
        return data

    def get_priority(self, job: Job) -> str:
        return Priority(job.priority).label

    @extend_schema_field(JobProgressOut)
    def get_progress(self, job: Job) -> dict:
        return JobProgressOut(job_progress(job=job, now=timezone.now())).data


class JobAttemptOut(serializers.ModelSerializer):
    class Meta:
        model = RetryAttempt
        fields = [
            "attempt_number",
            "status",
            "started_at",
            "finished_at",
            "duration_ms",
            "error_code",
            "error_message",
            "retry_at",
            "worker",
        ]


class EventOut(serializers.ModelSerializer):
    timestamp = serializers.DateTimeField(source="created_at")
    subject = serializers.SerializerMethodField()

    class Meta:
        model = Event
        fields = ["id", "type", "timestamp", "subject", "data", "actor", "trace_id"]

    def get_subject(self, event: Event) -> str:
        return f"{event.subject_type}:{event.subject_id}"


class RunTimeOut(serializers.Serializer):
    samples = serializers.IntegerField()
    avg_ms = serializers.FloatField(allow_null=True)
    p95_ms = serializers.FloatField(allow_null=True)


class JobTypeOut(serializers.ModelSerializer):
    default_priority = serializers.SerializerMethodField()
    run_time = serializers.SerializerMethodField()

    class Meta:
        model = JobType
        fields = [
            "name",
            "description",
            "schema",
            "schema_version",
            "sample_payload",
            "queue",
            "default_priority",
            "timeout_s",
            "max_timeout_s",
            "max_retries",
            "breaker",
            "max_concurrency",
            "registered",
            "paused",
            "run_time",
        ]

    def get_default_priority(self, job_type: JobType) -> str:
        return Priority(job_type.default_priority).label

    @extend_schema_field(RunTimeOut)
    def get_run_time(self, job_type: JobType) -> dict:
        """From ``context["run_time"]`` (read once for a whole list), else one query."""
        stats = self.context.get("run_time")
        if stats is None:
            stats = job_type_stats(names=[job_type.name], now=timezone.now())
        return RunTimeOut(stats[job_type.name]).data
