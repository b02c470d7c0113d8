"""Dead-letter shapes: filters, actions, entries, analysis. Names are unique."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conductor import names, secrets
from conductor.api.fields import (
    AnyJsonField,
    PatternField,
    PayloadField,
    StrictInput,
    TextField,
    WholeNumberField,
)
from recovery import selectors
from recovery.models import DeadLetter, Resubmission
from recovery.services import dead_letters

SIGNATURE_PATTERN = r"^[0-9a-f]{1,64}$"
DLQ_STATUSES = ["open", *DeadLetter.Resolution.values]
# As the services check them: the text without surrounding whitespace.
REASON = (dead_letters.REASON_MIN, dead_letters.REASON_MAX)
NOTES = (1, dead_letters.NOTES_MAX)
OPTIONAL_NOTES = (0, dead_letters.NOTES_MAX)


class RecoveryFieldErrorOut(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()
    code = serializers.CharField()


class DeadLetterFilterIn(serializers.Serializer):
    """Query parameters of the list; each narrows it, all must hold."""

    job = serializers.UUIDField(required=False, help_text="the dead job's id")
    status = serializers.ChoiceField(choices=DLQ_STATUSES, required=False)
    job_type = PatternField(names.ANCHORED, required=False)
    error_code = PatternField(names.ANCHORED, required=False)
    signature = PatternField(
        SIGNATURE_PATTERN, required=False, help_text="as grouped by the analysis"
    )


class DeadLetterAnalysisQueryIn(serializers.Serializer):
    include_resolved = serializers.BooleanField(
        required=False, default=False, help_text="count closed entries too"
    )


class DeadLetterResubmitIn(StrictInput):
    reason = TextField(stripped=REASON)
    payload = PayloadField(
        required=False,
        help_text="an edited payload, validated against the job type's schema; "
        "absent: the original payload",
    )

    def validate_payload(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be an object")
        return value


class DeadLetterResolveIn(StrictInput):
    notes = TextField(stripped=NOTES)


class DeadLetterDiscardIn(StrictInput):
    notes = TextField(stripped=OPTIONAL_NOTES, required=False)


class DeadLetterBulkIn(StrictInput):
    action = serializers.ChoiceField(choices=dead_letters.BULK_ACTIONS)
    ids = serializers.ListField(
        child=WholeNumberField(), min_length=1, max_length=dead_letters.BULK_MAX
    )
    reason = TextField(
        stripped=REASON, required=False, help_text="required to resubmit"
    )
    notes = TextField(
        stripped=OPTIONAL_NOTES, required=False, help_text="required to resolve"
    )

    def validate(self, data):
        if data["action"] == "resubmit" and "reason" not in data:
            raise serializers.ValidationError({"reason": ["required to resubmit"]})
        if data["action"] == "resolve" and not data.get("notes", "").strip():
            raise serializers.ValidationError({"notes": ["required to resolve"]})
        return data


class DeadLetterCleanupIn(StrictInput):
    older_than_days = WholeNumberField(
        min_value=1,
        max_value=3650,
        required=False,
        help_text="default: CONDUCTOR_DLQ_RETENTION_DAYS",
    )


# --- dead letters: outputs ------------------------------------------------------


class DeadLetterAttemptOut(serializers.Serializer):
    attempt_number = serializers.IntegerField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    error_code = serializers.CharField()
    error_message = serializers.CharField()


class DeadLetterOut(serializers.ModelSerializer):
    job_id = serializers.UUIDField()
    status = serializers.SerializerMethodField()
    attempts = DeadLetterAttemptOut(many=True, help_text="oldest first")

    class Meta:
        model = DeadLetter
        fields = [
            "id", "job_id", "job_type", "status", "error_code", "error_message",
            "attempts", "retry_count", "signature", "added_at", "resolved_at",
            "resolution", "notes", "actor",
        ]  # fmt: skip

    @extend_schema_field(serializers.ChoiceField(choices=DLQ_STATUSES))
    def get_status(self, entry: DeadLetter) -> str:
        return entry.resolution or "open"


class DeadLetterErrorOut(serializers.Serializer):
    code = serializers.CharField(source="error_code")
    message = serializers.CharField(source="error_message")
    traceback = serializers.CharField()


class DeadLetterResubmissionOut(serializers.ModelSerializer):
    new_job_id = serializers.UUIDField(allow_null=True)
    original_payload = serializers.JSONField()
    modified_payload = AnyJsonField()

    class Meta:
        model = Resubmission
        fields = [
            "id", "original_payload", "modified_payload", "reason", "actor",
            "new_job_id", "created_at",
        ]  # fmt: skip

    def to_representation(self, row: Resubmission) -> dict:
        data = super().to_representation(row)
        job_type = self.context.get("job_type") or row.dead_letter.job_type
        for name in ("original_payload", "modified_payload"):  # secrets masked
            data[name] = secrets.shown(data[name], job_type)
        return data


class DeadLetterDetailOut(DeadLetterOut):
    snapshot = serializers.SerializerMethodField(
        help_text="the job definition when it died (secret payload values masked)"
    )
    error = DeadLetterErrorOut(source="*")
    resubmissions = serializers.SerializerMethodField()

    class Meta(DeadLetterOut.Meta):
        fields = [
            *DeadLetterOut.Meta.fields, "signature_text", "snapshot", "error",
            "resubmissions",
        ]  # fmt: skip

    @extend_schema_field(serializers.DictField())
    def get_snapshot(self, entry: DeadLetter) -> dict:
        return selectors.snapshot_shown(entry)

    @extend_schema_field(DeadLetterResubmissionOut(many=True))
    def get_resubmissions(self, entry: DeadLetter) -> list:
        found = selectors.dead_letter_resubmissions(entry=entry)
        context = {"job_type": entry.job_type}
        return DeadLetterResubmissionOut(found, many=True, context=context).data


class DeadLetterResubmitOut(serializers.Serializer):
    job_id = serializers.UUIDField(help_text="the new job")
    entry = DeadLetterDetailOut()


class DeadLetterBulkResultOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.IntegerField(help_text="an HTTP status code")
    job_id = serializers.UUIDField(required=False, help_text="resubmit: the new job")
    code = serializers.CharField(required=False)
    detail = serializers.CharField(required=False)
    errors = RecoveryFieldErrorOut(many=True, required=False)


class DeadLetterBulkOut(serializers.Serializer):
    results = DeadLetterBulkResultOut(many=True)
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class DeadLetterGroupOut(serializers.Serializer):
    signature = serializers.CharField()
    signature_text = serializers.CharField()
    job_type = serializers.CharField()
    error_code = serializers.CharField()
    count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    trend = serializers.ListField(
        child=serializers.IntegerField(), help_text="entries per day from `since`"
    )
    sample_message = serializers.CharField()


class DeadLetterAnalysisOut(serializers.Serializer):
    since = serializers.DateField(help_text="the first day of each trend")
    days = serializers.IntegerField()
    include_resolved = serializers.BooleanField()
    groups = DeadLetterGroupOut(many=True)


class DeadLetterCleanupOut(serializers.Serializer):
    removed = serializers.IntegerField()
    older_than_days = serializers.IntegerField()
