"""Named retry policies and error rules: list, create, detail, change, delete.

Reads need ``read``, creation and changes ``write``, deletion ``admin``.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor.api.auth import AdminDeletes, actor_of
from conductor.api.envelope import CursorPage, NamePage
from recovery import selectors, services
from recovery.api.serializers import policies as s
from recovery.api.views import conflict
from recovery.models import ErrorRule, RetryPolicy

# --- retry policies -------------------------------------------------------------


class RetryPoliciesApi(generics.GenericAPIView):
    serializer_class = s.RetryPolicyOut
    pagination_class = NamePage
    queryset = RetryPolicy.objects.none()  # for the schema generator

    @extend_schema(
        operation_id="retry_policies_list", responses=s.RetryPolicyOut(many=True)
    )
    def get(self, request):
        page = self.paginate_queryset(selectors.retry_policy_list())
        return self.get_paginated_response(s.RetryPolicyOut(page, many=True).data)

    @extend_schema(
        operation_id="retry_policies_create",
        request=s.RetryPolicyIn,
        responses={
            201: s.RetryPolicyOut,
            **conflict("A policy with this name exists"),
        },
        description="Absent fields take the defaults; errors name the field and "
        "its bound. Job types and jobs refer to the policy by name.",
    )
    def post(self, request):
        data = s.RetryPolicyIn(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.retry_policy_create(
            data=data.validated_data, actor=actor_of(request)
        )
        response = Response(s.RetryPolicyOut(policy).data, status=201)
        response["Location"] = f"/api/v2/retry-policies/{policy.name}"
        return response


class RetryPolicyDetailApi(AdminDeletes, APIView):
    @extend_schema(operation_id="retry_policies_detail", responses=s.RetryPolicyOut)
    def get(self, request, name):
        return Response(s.RetryPolicyOut(selectors.retry_policy_get(name=name)).data)

    @extend_schema(
        operation_id="retry_policies_update",
        request=s.RetryPolicyPatchIn,
        responses=s.RetryPolicyOut,
        description="The changed policy is validated as a whole; the next failure "
        "of a job using it is decided by it.",
    )
    def patch(self, request, name):
        data = s.RetryPolicyPatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.retry_policy_update(
            name=name, data=data.validated_data, actor=actor_of(request)
        )
        return Response(s.RetryPolicyOut(policy).data)

    @extend_schema(operation_id="retry_policies_delete", responses={204: None})
    def delete(self, request, name):
        services.retry_policy_delete(name=name, actor=actor_of(request))
        return Response(status=204)


# --- error rules ----------------------------------------------------------------

DUPLICATE_RULE = conflict("Another rule has this match and pattern")


class ErrorRulePage(CursorPage):
    """In the order the rules are tried."""

    ordering = ("order", "id")


class ErrorRulesApi(generics.GenericAPIView):
    serializer_class = s.ErrorRuleOut
    pagination_class = ErrorRulePage
    queryset = ErrorRule.objects.none()  # for the schema generator

    @extend_schema(operation_id="error_rules_list", responses=s.ErrorRuleOut(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.error_rule_list())
        return self.get_paginated_response(s.ErrorRuleOut(page, many=True).data)

    @extend_schema(
        operation_id="error_rules_create",
        request=s.ErrorRuleIn,
        responses={201: s.ErrorRuleOut, **DUPLICATE_RULE},
        description="Applies from the next failure on (no restart): matching errors "
        "are retried, or not, whatever their default.",
    )
    def post(self, request):
        data = s.ErrorRuleIn(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.error_rule_create(
            data=data.validated_data, actor=actor_of(request)
        )
        response = Response(s.ErrorRuleOut(rule).data, status=201)
        response["Location"] = f"/api/v2/error-rules/{rule.id}"
        return response


class ErrorRuleDetailApi(AdminDeletes, APIView):
    @extend_schema(operation_id="error_rules_detail", responses=s.ErrorRuleOut)
    def get(self, request, id):
        return Response(s.ErrorRuleOut(selectors.error_rule_get(id=id)).data)

    @extend_schema(
        operation_id="error_rules_update",
        request=s.ErrorRulePatchIn,
        responses={200: s.ErrorRuleOut, **DUPLICATE_RULE},
    )
    def patch(self, request, id):
        data = s.ErrorRulePatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.error_rule_update(
            id=id, data=data.validated_data, actor=actor_of(request)
        )
        return Response(s.ErrorRuleOut(rule).data)

    @extend_schema(operation_id="error_rules_delete", responses={204: None})
    def delete(self, request, id):
        services.error_rule_delete(id=id, actor=actor_of(request))
        return Response(status=204)
