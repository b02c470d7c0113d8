"""API v2 routes."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.negotiation import DefaultContentNegotiation

from conductor.api import converters, openapi  # noqa: F401 - register <name:…>, auth
from conductor.api.views import job_detail, job_types, jobs, workflows

app_name = "api"


class SchemaApi(SpectacularAPIView):
    required_scope = "public"
    authentication_classes = []
    versioning_class = None  # one version, in the paths (SingleVersionGenerator)
    # JSON or YAML, as the client asks (the rest of the API speaks JSON only).
    content_negotiation_class = DefaultContentNegotiation


class SwaggerApi(SpectacularSwaggerView):
    required_scope = "public"
    authentication_classes = []


class RedocApi(SpectacularRedocView):
    required_scope = "public"
    authentication_classes = []


urlpatterns = [
    path("schema/", SchemaApi.as_view(), name="schema"),
    path("docs/", SwaggerApi.as_view(url_name="api:schema"), name="swagger"),
    path("redoc/", RedocApi.as_view(url_name="api:schema"), name="redoc"),
    path("jobs", jobs.JobsApi.as_view(), name="jobs"),
    path("jobs/bulk", jobs.JobsBulkApi.as_view(), name="jobs-bulk"),
    path("jobs/execute", jobs.JobExecuteApi.as_view(), name="jobs-execute"),
    path("jobs/<str:id>", job_detail.JobDetailApi.as_view(), name="job-detail"),
    path(
        "jobs/<str:id>/attempts",
        job_detail.JobAttemptsApi.as_view(),
        name="job-attempts",
    ),
    path("jobs/<str:id>/events", job_detail.JobEventsApi.as_view(), name="job-events"),
    path(
        "jobs/<str:id>/progress",
        job_detail.JobProgressApi.as_view(),
        name="job-progress",
    ),
    path("jobs/<str:id>/result", job_detail.JobResultApi.as_view(), name="job-result"),
    path(
        "jobs/<str:id>/result/download",
        job_detail.JobResultDownloadApi.as_view(),
        name="job-result-download",
    ),
    path("jobs/<str:id>/cancel", job_detail.JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<str:id>/retry", job_detail.JobRetryApi.as_view(), name="job-retry"),
    path("jobs/<str:id>/resume", job_detail.JobResumeApi.as_view(), name="job-resume"),
    path(
        "jobs/<str:id>/explain", job_detail.JobExplainApi.as_view(), name="job-explain"
    ),
    path(
        "jobs/<str:id>/dependencies",
        job_detail.JobDependenciesApi.as_view(),
        name="job-dependencies",
    ),
    path(
        "jobs/<str:id>/dependents",
        job_detail.JobDependentsApi.as_view(),
        name="job-dependents",
    ),
    path("workflows", workflows.WorkflowsApi.as_view(), name="workflows"),
    path(
        "workflows/validate",
        workflows.WorkflowValidateApi.as_view(),
        name="workflows-validate",
    ),
    path(
        "workflows/<name:name>", workflows.WorkflowDetailApi.as_view(), name="workflow"
    ),
    path(
        "workflows/<name:name>/run",
        workflows.WorkflowRunApi.as_view(),
        name="workflow-run",
    ),
    path(
        "workflow-runs/<str:id>",
        workflows.WorkflowRunDetailApi.as_view(),
        name="workflow-run-detail",
    ),
    path("job-types", job_types.JobTypesApi.as_view(), name="job-types"),
    path(
        "job-types/<name:name>", job_types.JobTypeDetailApi.as_view(), name="job-type"
    ),
    path("", include("recovery.api.urls")),
    path("", include("scheduling.api.urls")),
]
