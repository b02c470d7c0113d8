"""Admin for schedules: list with filters and the cron's description beside it; add
and change through ``scheduling.services`` (validated and journalled, errors beside
the field); trigger, pause and resume actions, each with its permission. Runs are
records: read-only, filtered by status, trigger and schedule.
"""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from conductor.admin import ReadOnlyAdmin
from conductor.errors import FieldError, ValidationFailed
from recovery.admin import ServiceSavedAdmin, _each
from scheduling import cron, services
from scheduling.models import Schedule, ScheduleRun


def _actor(request) -> str:
    return request.user.get_username()


#: API field paths and the form fields they belong beside (first match wins).
_FORM_FIELDS = (
    ("job.type", "job_type"),
    ("job.payload", "payload"),
    ("job", "job_type"),
)


def _on_form(error: FieldError) -> FieldError:
    """A service's error named by the form field it belongs beside: the API's
    ``job.type`` is the form's ``job_type``, ``job.payload.seconds`` its ``payload``
    and ``event_filter.x`` its ``event_filter`` (the rest of the path goes into the
    message)."""
    name, rest = _form_field(error.field)
    message = f"{rest}: {error.message}" if rest else error.message
    return FieldError(name, message, error.code)


def _form_field(path: str) -> tuple[str, str]:
    for prefix, field in _FORM_FIELDS:
        if path == prefix or path.startswith(prefix + "."):
            return field, path.removeprefix(prefix).lstrip(".")
    head, _, rest = path.partition(".")
    return head, rest


#: Runs shown on a schedule's page (its history is the ScheduleRun changelist).
RECENT_RUNS = 20


class RecentRuns(BaseInlineFormSet):
    """The latest runs only: a schedule firing each minute has thousands. Sliced
    here, after the formset has filtered them by schedule (a sliced queryset can no
    longer be filtered)."""

    def get_queryset(self):
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset()[:RECENT_RUNS]
        return self._recent


class RunInline(admin.TabularInline):
    model = ScheduleRun
    formset = RecentRuns
    fields = ("scheduled_for", "trigger", "status", "started_at", "completed_at",
              "execution_time_ms", "job", "error")  # fmt: skip
    readonly_fields = fields
    ordering = ("-scheduled_for", "-id")
    extra = 0
    max_num = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Schedule)
class ScheduleAdmin(ServiceSavedAdmin):
    list_display = (
        "name", "cron", "cron_description", "timezone", "target", "enabled",
        "overlap_policy", "catchup_policy", "next_execution_at", "last_execution_at",
    )  # fmt: skip
    list_filter = ("enabled", "overlap_policy", "catchup_policy", "timezone")
    search_fields = ("name", "description", "job_type", "cron", "event_type")
    actions = ["trigger_schedules", "pause_schedules", "resume_schedules"]
    fields = (
        "name", "description", "cron", "cron_description", "timezone", "event_type",
        "event_filter", "job_type", "payload", "workflow", "priority", "enabled",
        "overlap_policy", "catchup_policy", "catchup_max", "jitter_s",
        "next_execution_at", "last_execution_at", "periodic_task", "created_by",
    )  # fmt: skip
    readonly_fields = ("cron_description", "next_execution_at", "last_execution_at",
                       "periodic_task", "created_by")  # fmt: skip
    inlines = [RunInline]

    @admin.display(description="when")
    def cron_description(self, row: Schedule) -> str:
        if not row.cron:
            return f"on each {row.event_type} event" if row.event_type else "-"
        try:
            return cron.describe(row.cron)
        except Exception:  # a row written around the service: show it anyway
            return "(not a valid expression)"

    def write(self, request, row, data: dict):
        target = data.get("job_type")
        fields = {
            key: data.get(key) for key in (
                "name", "description", "cron", "timezone", "event_type",
                "priority", "enabled", "overlap_policy", "catchup_policy",
                "catchup_max", "jitter_s",
            )
        }  # fmt: skip
        fields["event_filter"] = data.get("event_filter") or {}
        workflow = data.get("workflow")
        fields["workflow"] = workflow.name if workflow else None
        fields["job"] = (
            {"type": target, "payload": data.get("payload") or {}} if target else None
        )
        now, actor = timezone.now(), _actor(request)
        try:
            if row is None:
                return services.schedule_create(data=fields, actor=actor, now=now)
            return services.schedule_update(
                schedule=row, data=fields, actor=actor, now=now
            )
        except ValidationFailed as exc:
            raise ValidationFailed([_on_form(e) for e in exc.errors]) from None

    def delete_model(self, request, obj):
        services.schedule_delete(
            schedule=obj, actor=_actor(request), now=timezone.now()
        )

    def delete_queryset(self, request, queryset):
        for schedule in queryset:
            self.delete_model(request, schedule)

    def has_trigger_permission(self, request) -> bool:
        return request.user.has_perm("scheduling.trigger_schedule")

    def has_pause_permission(self, request) -> bool:
        return request.user.has_perm("scheduling.pause_schedule")

    @admin.action(description="Run selected schedules now", permissions=["trigger"])
    def trigger_schedules(self, request, queryset):
        _each_schedule(request, queryset, services.schedule_trigger, "Triggered")

    @admin.action(description="Pause selected schedules", permissions=["pause"])
    def pause_schedules(self, request, queryset):
        _each_schedule(request, queryset, services.schedule_pause, "Paused")

    @admin.action(description="Resume selected schedules", permissions=["pause"])
    def resume_schedules(self, request, queryset):
        _each_schedule(request, queryset, services.schedule_resume, "Resumed")


def _each_schedule(request, queryset, service, verb: str) -> None:
    """``service(schedule=…, actor=…, now=…)`` for each selected schedule."""
    actor, now = _actor(request), timezone.now()

    def act(row):
        service(schedule=row, actor=actor, now=now)

    _each(request, queryset, act, verb, "schedule(s)")


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnlyAdmin):
    list_display = ("schedule", "scheduled_for", "trigger", "status", "started_at",
                    "completed_at", "execution_time_ms", "job")  # fmt: skip
    list_filter = ("status", "trigger", "schedule")
    date_hierarchy = "scheduled_for"
    search_fields = ("schedule__name", "error")
    list_select_related = ("schedule",)
