"""Jobs: submit, list, detail, attempts, history (input → service → output)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor import selectors, services
from conductor.api import serializers as s
from conductor.api.auth import actor_of
from conductor.api.envelope import EventCursorPage
from conductor.models import Event

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="A repeat submit with the same key returns the first job.",
)


def _request_from(data: dict, header_key: str | None) -> services.JobRequest:
    body_key = data.get("idempotency_key")
    if header_key and body_key and header_key != body_key:
        raise serializers.ValidationError(
            {"idempotency_key": ["differs from the Idempotency-Key header"]}
        )
    return services.JobRequest(
        type=data["type"],
        payload=data.get("payload", {}),
        priority=data.get("priority"),
        idempotency_key=body_key or header_key,
        run_at=data.get("run_at"),
        max_retries=data.get("max_retries"),
    )


class JobsApi(generics.GenericAPIView):
    serializer_class = s.JobOut

    def get_queryset(self):
        return selectors.job_list()

    @extend_schema(operation_id="jobs_list", responses=s.JobOut(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.JobOut(page, many=True).data)

    @extend_schema(
        operation_id="jobs_submit",
        request=s.JobSubmitIn,
        responses={201: s.JobOut},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request):
        data = s.JobSubmitIn(data=request.data)
        data.is_valid(raise_exception=True)
        header_key = request.headers.get("Idempotency-Key") or None
        job, created = services.job_submit(
            request=_request_from(data.validated_data, header_key),
            actor=actor_of(request),
            trace_id=request._request.trace_id,
        )
        response = Response(s.JobOut(job).data, status=201)
        response["Location"] = f"/api/v2/jobs/{job.id}"
        if not created:
            response["Idempotent-Replayed"] = "true"
        return response


class JobDetailApi(APIView):
    @extend_schema(operation_id="jobs_detail", responses=s.JobOut)
    def get(self, request, id):
        return Response(s.JobOut(selectors.job_get(id=id)).data)


class JobAttemptsApi(APIView):
    @extend_schema(operation_id="jobs_attempts", responses=s.JobAttemptOut(many=True))
    def get(self, request, id):
        job = selectors.job_get(id=id)
        return Response(
            s.JobAttemptOut(selectors.job_attempts(job=job), many=True).data
        )


class JobEventsApi(generics.GenericAPIView):
    serializer_class = s.EventOut
    pagination_class = EventCursorPage
    queryset = Event.objects.none()  # for the schema generator; reads use selectors

    @extend_schema(operation_id="jobs_events", responses=s.EventOut(many=True))
    def get(self, request, id):
        job = selectors.job_get(id=id)
        page = self.paginate_queryset(selectors.job_events(job=job))
        return self.get_paginated_response(s.EventOut(page, many=True).data)
