"""Recovery routes under /api/v2/ (included by ``conductor.api.urls``)."""

from django.urls import path

from conductor.api import converters  # noqa: F401 - registers <name:…>
from recovery.api.views import breakers, dlq, policies

app_name = "recovery_api"


urlpatterns = [
    path("dlq", dlq.DeadLettersApi.as_view(), name="dlq"),
    path("dlq/analysis", dlq.DeadLetterAnalysisApi.as_view(), name="dlq-analysis"),
    path("dlq/bulk", dlq.DeadLettersBulkApi.as_view(), name="dlq-bulk"),
    path("dlq/cleanup", dlq.DeadLettersCleanupApi.as_view(), name="dlq-cleanup"),
    path("dlq/<int:id>", dlq.DeadLetterDetailApi.as_view(), name="dlq-detail"),
    path(
        "dlq/<int:id>/resubmit",
        dlq.DeadLetterResubmitApi.as_view(),
        name="dlq-resubmit",
    ),
    path(
        "dlq/<int:id>/resolve", dlq.DeadLetterResolveApi.as_view(), name="dlq-resolve"
    ),
    path(
        "dlq/<int:id>/discard", dlq.DeadLetterDiscardApi.as_view(), name="dlq-discard"
    ),
    path("breakers", breakers.BreakersApi.as_view(), name="breakers"),
    path(
        "breakers/<name:service>",
        breakers.BreakerDetailApi.as_view(),
        name="breaker",
    ),
    path(
        "breakers/<name:service>/reset",
        breakers.BreakerResetApi.as_view(),
        name="breaker-reset",
    ),
    path(
        "breakers/<name:service>/force-open",
        breakers.BreakerForceOpenApi.as_view(),
        name="breaker-force-open",
    ),
    path(
        "breakers/<name:service>/transitions",
        breakers.BreakerTransitionsApi.as_view(),
        name="breaker-transitions",
    ),
    path("retry-policies", policies.RetryPoliciesApi.as_view(), name="retry-policies"),
    path(
        "retry-policies/<name:name>",
        policies.RetryPolicyDetailApi.as_view(),
        name="retry-policy",
    ),
    path("error-rules", policies.ErrorRulesApi.as_view(), name="error-rules"),
    path(
        "error-rules/<int:id>",
        policies.ErrorRuleDetailApi.as_view(),
        name="error-rule",
    ),
]
