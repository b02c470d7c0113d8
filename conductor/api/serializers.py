"""Input and output shapes of the core API. Names are globally unique (OpenAPI)."""

from rest_framework import serializers

from conductor.models import Event, Job, JobType, Priority, RetryAttempt
from conductor.states import JobState

PRIORITY_LABELS = [p.label for p in Priority]


class StrictInput(serializers.Serializer):
    """Refuses fields it does not know, naming them, instead of ignoring typos."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["unknown field"] for name in unknown}
                )
        return super().to_internal_value(data)


class JobSubmitIn(StrictInput):
    type = serializers.CharField(max_length=100)
    payload = serializers.JSONField(required=False, default=dict)
    priority = serializers.ChoiceField(choices=PRIORITY_LABELS, required=False)
    idempotency_key = serializers.CharField(max_length=255, required=False)
    run_at = serializers.DateTimeField(required=False)
    max_retries = serializers.IntegerField(min_value=0, max_value=10, required=False)


class JobProgressOut(serializers.Serializer):
    pct = serializers.FloatField(allow_null=True)
    stage = serializers.CharField()
    message = serializers.CharField()


class JobErrorOut(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class JobOut(serializers.ModelSerializer):
    type = serializers.CharField(source="job_type_id")
    priority = serializers.SerializerMethodField()
    state = serializers.ChoiceField(choices=JobState.choices)
    result = serializers.JSONField(allow_null=True)
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
            "error",
            "progress",
            "idempotency_key",
            "trace_id",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "updated_at",
        ]

    def get_priority(self, job: Job) -> str:
        return Priority(job.priority).label

    def get_progress(self, job: Job) -> JobProgressOut:
        return {
            "pct": job.progress_pct,
            "stage": job.progress_stage,
            "message": job.progress_message,
        }


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


class JobTypeOut(serializers.ModelSerializer):
    default_priority = serializers.SerializerMethodField()

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
        ]

    def get_default_priority(self, job_type: JobType) -> str:
        return Priority(job_type.default_priority).label
