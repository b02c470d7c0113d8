"""Admin for the core models. Writes go through services, so they are journalled."""

import json
from typing import Any

from django.contrib import admin, messages
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from conductor import secrets, services
from conductor.admin_actions import for_each_selected
from conductor.models import (
    ApiKey,
    Event,
    Heartbeat,
    Job,
    JobDependency,
    JobType,
    RetryAttempt,
    Workflow,
    WorkflowRun,
)
from recovery import services as recovery_services

admin.site.site_header = "Conductor administration"
admin.site.site_title = "Conductor"
# We use our own key model (scopes, tier); the library's default one would confuse.
admin.site.unregister(APIKey)


def json_shown(value: Any, type_name: str | None = None) -> str:
    """JSON as the admin shows it; a payload of ``type_name`` with its secret values
    masked (conductor.secrets)."""
    if type_name is not None:
        value = secrets.shown(value, type_name)
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return format_html("<pre>{}</pre>", text)


def fields_masked(fields, masked: dict[str, str]) -> list[str]:
    """``fields`` with each field of ``masked`` replaced by its masked display."""
    return list(dict.fromkeys(masked.get(name, name) for name in fields))


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JobType)
class JobTypeAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "queue",
        "default_priority",
        "timeout_s",
        "max_retries",
        "override_max_retries",
        "paused",
        "registered",
    )
    list_filter = ("registered", "paused", "queue")
    search_fields = ("name", "description")
    readonly_fields = (
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
        "retry_policy",
        "breaker",
        "max_concurrency",
        "registered",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        return False  # job types are registered in code

    def save_model(self, request, obj, form, change):
        original = JobType.objects.get(pk=obj.pk)
        changes = {
            name: form.cleaned_data[name]
            for name in services.job_types.OPERATOR_FIELDS
            if name in form.cleaned_data
        }
        services.job_type_update(
            job_type=original, changes=changes, actor=request.user.get_username()
        )


class AttemptInline(admin.TabularInline):
    model = RetryAttempt
    extra = 0
    can_delete = False
    fields = (
        "attempt_number",
        "status",
        "started_at",
        "finished_at",
        "duration_ms",
        "error_code",
        "error_message",
        "retry_at",
        "worker",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _each(request, queryset, action, verb: str) -> None:
    for_each_selected(request, queryset, action, verb=verb, noun="job(s)")


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    actions = ["cancel_jobs", "force_cancel_jobs", "retry_jobs", "resume_jobs"]
    readonly_fields = ("payload_shown",)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields_masked(fields, {"payload": "payload_shown"})

    @admin.display(description="payload")
    def payload_shown(self, job: Job) -> str:
        return json_shown(job.payload, job.job_type_id)

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("conductor.cancel_job")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("conductor.retry_job")

    @admin.action(description="Cancel selected jobs (graceful)", permissions=["cancel"])
    def cancel_jobs(self, request, queryset):
        actor = request.user.get_username()
        _each(
            request,
            queryset,
            lambda job: services.job_cancel(
                job_id=job.id,
                reason=f"cancelled in the admin by {actor}",
                actor=actor,
            ),
            "Cancelled",
        )

    @admin.action(
        description="Cancel selected jobs now (forced)", permissions=["cancel"]
    )
    def force_cancel_jobs(self, request, queryset):
        actor = request.user.get_username()
        _each(
            request,
            queryset,
            lambda job: services.job_cancel(
                job_id=job.id,
                reason=f"force-cancelled in the admin by {actor}",
                actor=actor,
                mode="forced",
            ),
            "Cancelled",
        )

    @admin.action(
        description="Retry selected failed or dead jobs", permissions=["retry"]
    )
    def retry_jobs(self, request, queryset):
        actor = request.user.get_username()
        _each(
            request,
            queryset,
            lambda job: recovery_services.job_retry(
                job_id=job.id, actor=actor, reason="retried in the admin"
            ),
            "Retried",
        )

    @admin.action(description="Resume selected cancelled jobs", permissions=["retry"])
    def resume_jobs(self, request, queryset):
        actor = request.user.get_username()
        _each(
            request,
            queryset,
            lambda job: services.job_resume(job_id=job.id, actor=actor),
            "Resumed",
        )

    list_display = (
        "id",
        "job_type",
        "state",
        "priority",
        "attempts",
        "run_at",
        "created_at",
        "finished_at",
    )
    list_filter = ("state", "priority", "job_type", "queue")
    search_fields = ("id", "idempotency_key", "trace_id", "created_by")
    date_hierarchy = "created_at"
    inlines = [AttemptInline]
    list_select_related = ("job_type",)
    show_full_result_count = False


@admin.register(RetryAttempt)
class RetryAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "job",
        "attempt_number",
        "status",
        "error_code",
        "started_at",
        "duration_ms",
        "retry_at",
    )
    list_filter = ("status", "error_code")
    search_fields = ("job__id", "error_code", "error_message")
    date_hierarchy = "started_at"
    show_full_result_count = False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "subject_type", "subject_id", "actor", "created_at")
    list_filter = ("type", "subject_type")
    search_fields = ("subject_id", "actor", "trace_id", "type")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    list_display = ("prefix", "name", "tier", "scopes", "owner", "created", "revoked")
    list_filter = ("tier", "revoked", "created")
    search_fields = ("name", "prefix")
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        row, key = services.api_key_create(
            name=obj.name,
            scopes=list(obj.scopes or ["read"]),
            tier=obj.tier,
            owner=obj.owner,
            expires_at=obj.expiry_date,
            actor=request.user.get_username(),
        )
        obj.pk = row.pk
        messages.warning(
            request,
            f"The API key for {row.name} is: {key} — store it now; "
            "it will not be shown again.",
        )

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("conductor.revoke_apikey")

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked=False):
            services.api_key_revoke(key=key, actor=request.user.get_username())


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "seen_at")
    list_filter = ("kind",)


@admin.register(JobDependency)
class JobDependencyAdmin(ReadOnlyAdmin):
    list_display = ("job", "depends_on")
    search_fields = ("job__id", "depends_on__id")


class RunJobInline(admin.TabularInline):
    model = Job
    fk_name = "workflow_run"
    extra = 0
    can_delete = False
    fields = ("workflow_node", "job_type", "state", "attempts", "finished_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Workflow)
class WorkflowAdmin(ReadOnlyAdmin):
    list_display = ("name", "created_by", "created_at", "updated_at")
    search_fields = ("name", "description")
    date_hierarchy = "created_at"


@admin.register(WorkflowRun)
class WorkflowRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "workflow",
        "state",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("state", "workflow")
    search_fields = ("id", "trace_id")
    date_hierarchy = "created_at"
    inlines = [RunJobInline]
