"""Workflows: create, list, detail, validate, run; workflow runs with their nodes."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor import names
from conductor.api.auth import actor_of
from conductor.api.envelope import NamePage
from conductor.api.fields import AnyJsonField, PatternField, StrictInput, TextField
from conductor.api.openapi import conflict
from conductor.api.serializers import PRIORITY_LABELS
from conductor.workflows import selectors, services
from conductor.workflows.models import Workflow


class WorkflowDefinitionField(serializers.JSONField):
    """``{"nodes": [{"id", "type", "payload"?, "depends_on"?, "condition"?,
    "compensate"?, "priority"?}], "on_failure"?}``, checked by the workflow service
    (described by ``conductor.api.openapi_workflows``)."""


class WorkflowIn(StrictInput):
    name = PatternField(names.ANCHORED, help_text=names.RULE)
    description = TextField(required=False, default="", allow_blank=True)
    definition = WorkflowDefinitionField()


class WorkflowOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    definition = serializers.SerializerMethodField(
        help_text="as submitted, secret payload values masked"
    )
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(serializers.JSONField())
    def get_definition(self, workflow) -> dict:
        return selectors.definition_shown(workflow.definition)


class WorkflowValidateIn(StrictInput):
    definition = WorkflowDefinitionField()


class WorkflowPlanOut(serializers.Serializer):
    valid = serializers.BooleanField()
    nodes = serializers.IntegerField()
    order = serializers.ListField(child=serializers.CharField())
    roots = serializers.ListField(child=serializers.CharField())
    levels = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField())
    )


class WorkflowRunIn(StrictInput):
    priority = serializers.ChoiceField(choices=PRIORITY_LABELS, required=False)


class WorkflowNodeOut(serializers.Serializer):
    node = serializers.CharField(source="workflow_node")
    job_id = serializers.UUIDField(source="id")
    type = serializers.CharField(source="job_type_id")
    state = serializers.CharField()
    attempts = serializers.IntegerField()
    result = AnyJsonField()
    cancel_reason = serializers.CharField()


class WorkflowRunOut(serializers.Serializer):
    id = serializers.UUIDField()
    workflow = serializers.CharField(
        source="workflow.name", allow_null=True, default=None
    )
    state = serializers.CharField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    nodes = serializers.SerializerMethodField()

    def get_nodes(self, run) -> WorkflowNodeOut(many=True):
        return WorkflowNodeOut(selectors.workflow_run_jobs(run=run), many=True).data


def _plan_body(plan) -> dict:
    return {
        "valid": True,
        "nodes": len(plan.nodes),
        "order": list(plan.order),
        "roots": list(plan.roots),
        "levels": [list(level) for level in plan.levels],
    }


class WorkflowsApi(generics.GenericAPIView):
    serializer_class = WorkflowOut
    pagination_class = NamePage
    queryset = Workflow.objects.none()  # for the schema generator

    @extend_schema(operation_id="workflows_list", responses=WorkflowOut(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.workflow_list())
        return self.get_paginated_response(WorkflowOut(page, many=True).data)

    @extend_schema(
        operation_id="workflows_create",
        request=WorkflowIn,
        responses={201: WorkflowOut, **conflict("A workflow with this name exists")},
    )
    def post(self, request):
        data = WorkflowIn(data=request.data)
        data.is_valid(raise_exception=True)
        workflow = services.workflow_create(
            actor=actor_of(request), **data.validated_data
        )
        return Response(WorkflowOut(workflow).data, status=201)


class WorkflowDetailApi(APIView):
    @extend_schema(operation_id="workflows_detail", responses=WorkflowOut)
    def get(self, request, name):
        return Response(WorkflowOut(selectors.workflow_get(name=name)).data)


class WorkflowValidateApi(APIView):
    @extend_schema(
        operation_id="workflows_validate",
        request=WorkflowValidateIn,
        responses=WorkflowPlanOut,
    )
    def post(self, request):
        data = WorkflowValidateIn(data=request.data)
        data.is_valid(raise_exception=True)
        plan = services.workflow_validate(definition=data.validated_data["definition"])
        return Response(WorkflowPlanOut(_plan_body(plan)).data)


class WorkflowRunApi(APIView):
    @extend_schema(
        operation_id="workflows_run",
        request=WorkflowRunIn,
        responses={201: WorkflowRunOut},
    )
    def post(self, request, name):
        data = WorkflowRunIn(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.workflow_run(
            workflow=selectors.workflow_get(name=name),
            actor=actor_of(request),
            trace_id=request._request.trace_id,
            **data.validated_data,
        )
        return Response(WorkflowRunOut(run).data, status=201)


class WorkflowRunDetailApi(APIView):
    @extend_schema(operation_id="workflow_runs_detail", responses=WorkflowRunOut)
    def get(self, request, id):
        return Response(WorkflowRunOut(selectors.workflow_run_get(id=id)).data)
