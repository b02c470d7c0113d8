"""API v2 routes."""

from django.urls import path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.negotiation import DefaultContentNegotiation

from conductor.api import openapi  # noqa: F401 - registers the auth extension
from conductor.api.views import job_types, jobs

app_name = "api"


class SchemaApi(SpectacularAPIView):
    required_scope = "public"
    authentication_classes = []
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
    path("jobs/<str:id>", jobs.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<str:id>/attempts", jobs.JobAttemptsApi.as_view(), name="job-attempts"),
    path("jobs/<str:id>/events", jobs.JobEventsApi.as_view(), name="job-events"),
    path("job-types", job_types.JobTypesApi.as_view(), name="job-types"),
    path("job-types/<str:name>", job_types.JobTypeDetailApi.as_view(), name="job-type"),
]
