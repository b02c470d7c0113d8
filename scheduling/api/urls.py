"""Schedule routes under /api/v2/ (included by ``conductor.api.urls``)."""

from django.urls import path

from scheduling.api import views

app_name = "scheduling_api"

urlpatterns = [
    path("schedules", views.SchedulesApi.as_view(), name="schedules"),
    path("schedules/preview", views.SchedulePreviewApi.as_view(), name="preview"),
    path("schedules/<str:id>", views.ScheduleDetailApi.as_view(), name="schedule"),
    path(
        "schedules/<str:id>/trigger",
        views.ScheduleTriggerApi.as_view(),
        name="schedule-trigger",
    ),
    path(
        "schedules/<str:id>/pause",
        views.SchedulePauseApi.as_view(),
        name="schedule-pause",
    ),
    path(
        "schedules/<str:id>/resume",
        views.ScheduleResumeApi.as_view(),
        name="schedule-resume",
    ),
    path(
        "schedules/<str:id>/history",
        views.ScheduleHistoryApi.as_view(),
        name="schedule-history",
    ),
    path(
        "schedules/<str:id>/preview",
        views.ScheduleNextApi.as_view(),
        name="schedule-preview",
    ),
]
