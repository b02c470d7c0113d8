"""Admin for schedules: list with filters and the cron's description beside it; add
and change through ``scheduling.services`` (validated and journalled, errors beside
the field); trigger, pause and resume actions, each with its permission. Runs are
records: read-only, filtered by status, trigger and schedule.
"""

from django.contrib import admin
from django.utils import timezone

from conductor.admin import ReadOnlyAdmin
from recovery.admin import ServiceSavedAdmin, _each
from scheduling import cron, services
from scheduling.models import Schedule, ScheduleRun


def _actor(request) -> str:
    return request.user.get_username()


class RunInline(admin.TabularInline):
    model = ScheduleRun
    fields = ("scheduled_for", "trigger", "status", "started_at", "completed_at",
              "execution_time_ms", "job", "error")  # fmt: skip
    readonly_fields = fields
    ordering = ("-scheduled_for",)
    extra = 0
    max_num = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-scheduled_for")[:20]

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
        now = timezone.now()
        if row is None:
            return services.schedule_create(data=fields, actor=_actor(request), now=now)
        return services.schedule_update(
            schedule=row, data=fields, actor=_actor(request), now=now
        )

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
        actor, now = _actor(request), timezone.now()

        def trigger(row):
            services.schedule_trigger(schedule=row, actor=actor, now=now)

        _each(request, queryset, trigger, "Triggered", "schedule(s)")

    @admin.action(description="Pause selected schedules", permissions=["pause"])
    def pause_schedules(self, request, queryset):
        actor, now = _actor(request), timezone.now()

        def pause(row):
            services.schedule_pause(schedule=row, actor=actor, now=now)

        _each(request, queryset, pause, "Paused", "schedule(s)")

    @admin.action(description="Resume selected schedules", permissions=["pause"])
    def resume_schedules(self, request, queryset):
        actor, now = _actor(request), timezone.now()

        def resume(row):
            services.schedule_resume(schedule=row, actor=actor, now=now)

        _each(request, queryset, resume, "Resumed", "schedule(s)")


@admin.register(ScheduleRun)
class ScheduleRunAdmin(ReadOnlyAdmin):
    list_display = ("schedule", "scheduled_for", "trigger", "status", "started_at",
                    "completed_at", "execution_time_ms", "job")  # fmt: skip
    list_filter = ("status", "trigger", "schedule")
    date_hierarchy = "scheduled_for"
    search_fields = ("schedule__name", "error")
    list_select_related = ("schedule",)
