"""Admin for recovery: retry policies, error rules, breakers and dead letters.

Every write goes through ``recovery.services``, so it is validated and journalled with
the operator's name. Policies, rules and breaker thresholds are written by their
service as the form's last validation step: when the service refuses, its errors are
shown as messages (and on the form, which keeps what was typed) and nothing is saved.
Breaker transitions, dead letters and resubmissions are records: read-only, with
actions (reset, force open; resolve, discard, resubmit) that call the services.
"""

from django.contrib import admin, messages

from conductor.admin import ReadOnlyAdmin, fields_masked, json_shown
from conductor.admin_actions import for_each_selected
from conductor.errors import DomainError
from recovery import selectors, services
from recovery.models import (
    BreakerTransition,
    CircuitBreaker,
    DeadLetter,
    ErrorRule,
    Resubmission,
    RetryPolicy,
)


def _each(request, queryset, action, verb: str, noun: str) -> None:
    for_each_selected(request, queryset, action, verb=verb, noun=noun)


class ServiceSavedAdmin(admin.ModelAdmin):
    """A model written by ``write(request, row, data)`` (``row`` is None on add)."""

    def write(self, request, row, data: dict):
        raise TypeError(f"{type(self).__name__} must say how it writes (write())")

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class ServiceForm(base):
            saved = None

            def _post_clean(self):
                super()._post_clean()
                if self.errors:
                    return
                row = self.instance if change else None
                try:
                    self.saved = model_admin.write(request, row, self.cleaned_data)
                except DomainError as exc:
                    _refuse(request, self, exc)

        return ServiceForm

    def save_model(self, request, obj, form, change):
        obj.pk = form.saved.pk  # written by the service while validating the form


def _refuse(request, form, exc: DomainError) -> None:
    for error in exc.errors or ():
        name = error.field.partition("[")[0]
        messages.error(request, f"{error.field}: {error.message}")
        form.add_error(name if name in form.fields else None, error.message)
    if not exc.errors:
        messages.error(request, exc.detail)
        form.add_error(None, exc.detail)


def _actor(request) -> str:
    return request.user.get_username()


# --- retry policies and error rules ---------------------------------------------


@admin.register(RetryPolicy)
class RetryPolicyAdmin(ServiceSavedAdmin):
    list_display = (
        "name", "strategy", "max_retries", "initial_delay_ms", "max_delay_ms",
        "backoff_multiplier", "jitter", "updated_at",
    )  # fmt: skip
    list_filter = ("strategy",)
    search_fields = ("name", "description")
    date_hierarchy = "created_at"
    fields = ("name", "description", *RetryPolicy.POLICY_FIELDS, "created_by")

    def get_readonly_fields(self, request, obj=None):
        return ("name", "created_by") if obj else ("created_by",)

    LISTS = ("delays_ms", "retryable_errors", "non_retryable_errors")

    def write(self, request, row, data: dict):
        # A blank JSON box is None to the form; to the policy it is an empty list.
        data = {**data, **{name: data.get(name) or [] for name in self.LISTS}}
        if row is None:
            return services.retry_policy_create(data=data, actor=_actor(request))
        return services.retry_policy_update(
            name=row.name, data=data, actor=_actor(request)
        )

    def delete_model(self, request, obj):
        services.retry_policy_delete(name=obj.name, actor=_actor(request))

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            self.delete_model(request, policy)


@admin.register(ErrorRule)
class ErrorRuleAdmin(ServiceSavedAdmin):
    list_display = (
        "pattern", "match", "retryable", "order", "enabled", "created_by",
        "updated_at",
    )  # fmt: skip
    list_filter = ("match", "retryable", "enabled")
    search_fields = ("pattern", "description")
    date_hierarchy = "created_at"
    fields = ("match", "pattern", "retryable", "order", "enabled", "description",
              "created_by")  # fmt: skip
    readonly_fields = ("created_by",)

    def write(self, request, row, data: dict):
        if row is None:
            return services.error_rule_create(data=data, actor=_actor(request))
        return services.error_rule_update(id=row.pk, data=data, actor=_actor(request))

    def delete_model(self, request, obj):
        services.error_rule_delete(id=obj.pk, actor=_actor(request))

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


# --- breakers -------------------------------------------------------------------

THRESHOLDS = (
    "failure_threshold", "success_threshold", "timeout_ms", "monitoring_window_ms"
)  # fmt: skip


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ServiceSavedAdmin):
    """Thresholds are editable; the state changes only by the actions (or jobs)."""

    list_display = ("service_name", "state", *THRESHOLDS, "opened_at", "updated_at")
    list_filter = ("state",)
    search_fields = ("service_name",)
    date_hierarchy = "created_at"
    actions = ["reset_breakers", "force_open_breakers"]
    readonly_fields = (
        "service_name", "state", "opened_at", "successes", "trial_job", "trial_until",
        "failures", "created_at", "updated_at",
    )  # fmt: skip
    fields = (*readonly_fields[:2], *THRESHOLDS, *readonly_fields[2:])

    def has_add_permission(self, request):
        return False  # a breaker is made by the first job that names its service

    def has_delete_permission(self, request, obj=None):
        return False

    def write(self, request, row, data: dict):
        changes = {name: data[name] for name in THRESHOLDS if name in data}
        return services.breaker_update(
            service=row.service_name, changes=changes, actor=_actor(request)
        )

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("recovery.operate_circuitbreaker")

    @admin.action(
        description="Reset selected breakers (close them)", permissions=["operate"]
    )
    def reset_breakers(self, request, queryset):
        actor = _actor(request)
        _each(
            request,
            queryset,
            lambda row: services.breaker_reset(service=row.service_name, actor=actor),
            "Reset",
            "breaker(s)",
        )

    @admin.action(description="Force selected breakers open", permissions=["operate"])
    def force_open_breakers(self, request, queryset):
        actor = _actor(request)
        _each(
            request,
            queryset,
            lambda row: services.breaker_force_open(
                service=row.service_name, actor=actor
            ),
            "Forced open",
            "breaker(s)",
        )


@admin.register(BreakerTransition)
class BreakerTransitionAdmin(ReadOnlyAdmin):
    list_display = ("breaker", "from_state", "to_state", "reason", "actor",
                    "created_at")  # fmt: skip
    list_filter = ("to_state", "from_state", "breaker")
    search_fields = ("breaker__service_name", "reason", "actor")
    date_hierarchy = "created_at"
    list_select_related = ("breaker",)
    show_full_result_count = False


# --- dead letters ---------------------------------------------------------------


class DeadLetterStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "open"), *DeadLetter.Resolution.choices]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value():
            return queryset.filter(resolution=self.value())
        return queryset


class ResubmissionInline(admin.TabularInline):
    model = Resubmission
    extra = 0
    can_delete = False
    fields = ("created_at", "actor", "reason", "new_job", "modified_payload_shown")
    readonly_fields = fields

    @admin.display(description="modified payload")
    def modified_payload_shown(self, row: Resubmission) -> str:
        return json_shown(row.modified_payload, row.dead_letter.job_type)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ("id", "job_type", "error_code", "status", "retry_count",
                    "added_at", "resolved_at", "actor")  # fmt: skip
    list_filter = (DeadLetterStatusFilter, "job_type", "error_code")
    search_fields = ("job__id", "job_type", "error_code", "error_message",
                     "signature", "notes")  # fmt: skip
    date_hierarchy = "added_at"
    inlines = [ResubmissionInline]
    actions = ["resubmit_entries", "resolve_entries", "discard_entries"]
    show_full_result_count = False

    readonly_fields = ("snapshot_shown",)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields_masked(fields, {"snapshot": "snapshot_shown"})

    @admin.display(description="status")
    def status(self, entry: DeadLetter) -> str:
        return entry.resolution or "open"

    @admin.display(description="snapshot")
    def snapshot_shown(self, entry: DeadLetter) -> str:
        return json_shown(selectors.snapshot_shown(entry))

    def has_resubmit_permission(self, request) -> bool:
        return request.user.has_perm("recovery.resubmit_deadletter")

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("recovery.resolve_deadletter")

    @admin.action(
        description="Resubmit selected dead letters (as new jobs)",
        permissions=["resubmit"],
    )
    def resubmit_entries(self, request, queryset):
        actor = _actor(request)
        _each(
            request,
            queryset,
            lambda entry: services.dead_letter_resubmit(
                dead_letter_id=entry.id,
                reason=f"resubmitted in the admin by {actor}",
                actor=actor,
            ),
            "Resubmitted",
            "dead letter(s)",
        )

    @admin.action(description="Resolve selected dead letters", permissions=["resolve"])
    def resolve_entries(self, request, queryset):
        actor = _actor(request)
        _each(
            request,
            queryset,
            lambda entry: services.dead_letter_resolve(
                dead_letter_id=entry.id,
                notes=f"resolved in the admin by {actor}",
                actor=actor,
            ),
            "Resolved",
            "dead letter(s)",
        )

    @admin.action(description="Discard selected dead letters", permissions=["resolve"])
    def discard_entries(self, request, queryset):
        actor = _actor(request)
        _each(
            request,
            queryset,
            lambda entry: services.dead_letter_discard(
                dead_letter_id=entry.id,
                notes=f"discarded in the admin by {actor}",
                actor=actor,
            ),
            "Discarded",
            "dead letter(s)",
        )


@admin.register(Resubmission)
class ResubmissionAdmin(ReadOnlyAdmin):
    list_display = ("id", "dead_letter", "actor", "new_job", "created_at")
    search_fields = ("reason", "actor")
    date_hierarchy = "created_at"
    list_select_related = ("dead_letter",)
    readonly_fields = ("original_payload_shown", "modified_payload_shown")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields_masked(fields, {
            "original_payload": "original_payload_shown",
            "modified_payload": "modified_payload_shown",
        })  # fmt: skip

    @admin.display(description="original payload")
    def original_payload_shown(self, row: Resubmission) -> str:
        return json_shown(row.original_payload, row.dead_letter.job_type)

    @admin.display(description="modified payload")
    def modified_payload_shown(self, row: Resubmission) -> str:
        return json_shown(row.modified_payload, row.dead_letter.job_type)
