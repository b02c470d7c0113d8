"""Dead letters: list, detail, resubmit, resolve, discard (one or in bulk), the
analysis by error signature, and the cleanup of old resolved entries."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor.api.auth import actor_of
from conductor.api.envelope import CursorPage
from recovery import selectors, services
from recovery.api.serializers import dlq as s
from recovery.api.views import conflict
from recovery.models import DeadLetter
from recovery.services.dead_letters import UNSET

ANALYSIS_DAYS = 14
CLOSED = conflict("The entry was already resubmitted, resolved or discarded")


class DeadLetterPage(CursorPage):
    """Newest first."""

    ordering = ("-added_at", "-id")


class DeadLettersApi(generics.GenericAPIView):
    serializer_class = s.DeadLetterOut
    pagination_class = DeadLetterPage
    queryset = (
        DeadLetter.objects.none()
    )  # for the schema generator; reads use selectors

    @extend_schema(
        operation_id="dlq_list",
        parameters=[s.DeadLetterFilterIn],
        responses=s.DeadLetterOut(many=True),
    )
    def get(self, request):
        # A plain dict: from a QueryDict DRF reads a blank ``?status=`` as absent.
        query = s.DeadLetterFilterIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        filters = dict(query.validated_data)
        if "job" in filters:
            filters["job"] = str(filters["job"])
        page = self.paginate_queryset(selectors.dead_letter_list(**filters))
        return self.get_paginated_response(s.DeadLetterOut(page, many=True).data)


class DeadLetterDetailApi(APIView):
    @extend_schema(operation_id="dlq_detail", responses=s.DeadLetterDetailOut)
    def get(self, request, id):
        entry = selectors.dead_letter_get(id=id)
        return Response(s.DeadLetterDetailOut(entry).data)


class DeadLetterResubmitApi(APIView):
    @extend_schema(
        operation_id="dlq_resubmit",
        request=s.DeadLetterResubmitIn,
        responses={201: s.DeadLetterResubmitOut, **CLOSED},
        description="Runs the job again as a new job (`data.job_id`), with its "
        "original payload or an edited one; the entry is closed as `resubmitted` "
        "and an audit record keeps both payloads, the reason and the actor.",
    )
    def post(self, request, id):
        data = s.DeadLetterResubmitIn(data=request.data)
        data.is_valid(raise_exception=True)
        entry, job = services.dead_letter_resubmit(
            dead_letter_id=id,
            reason=data.validated_data["reason"],
            payload=data.validated_data.get("payload", UNSET),
            actor=actor_of(request),
            trace_id=request._request.trace_id,
        )
        body = s.DeadLetterResubmitOut({"job_id": job.id, "entry": entry}).data
        response = Response(body, status=201)
        response["Location"] = f"/api/v2/jobs/{job.id}"
        return response


class DeadLetterResolveApi(APIView):
    @extend_schema(
        operation_id="dlq_resolve",
        request=s.DeadLetterResolveIn,
        responses={200: s.DeadLetterDetailOut, **CLOSED},
    )
    def post(self, request, id):
        data = s.DeadLetterResolveIn(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.dead_letter_resolve(
            dead_letter_id=id, actor=actor_of(request), **data.validated_data
        )
        return Response(s.DeadLetterDetailOut(entry).data)


class DeadLetterDiscardApi(APIView):
    @extend_schema(
        operation_id="dlq_discard",
        request=s.DeadLetterDiscardIn,
        responses={200: s.DeadLetterDetailOut, **CLOSED},
    )
    def post(self, request, id):
        data = s.DeadLetterDiscardIn(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.dead_letter_discard(
            dead_letter_id=id, actor=actor_of(request), **data.validated_data
        )
        return Response(s.DeadLetterDetailOut(entry).data)


class DeadLettersBulkApi(APIView):
    @extend_schema(
        operation_id="dlq_bulk",
        request=s.DeadLetterBulkIn,
        responses=s.DeadLetterBulkOut,
        description="One action on many entries; each succeeds or fails on its own "
        "(`results[i].status` is the HTTP status it would have had alone).",
    )
    def post(self, request):
        data = s.DeadLetterBulkIn(data=request.data)
        data.is_valid(raise_exception=True)
        results = services.dead_letters_bulk(
            actor=actor_of(request), **data.validated_data
        )
        succeeded = sum(1 for result in results if result["status"] < 300)
        body = {
            "results": results,
            "succeeded": succeeded,
            "failed": len(results) - succeeded,
        }
        return Response(s.DeadLetterBulkOut(body).data)


class DeadLetterAnalysisApi(APIView):
    @extend_schema(
        operation_id="dlq_analysis",
        parameters=[s.DeadLetterAnalysisQueryIn],
        responses=s.DeadLetterAnalysisOut,
        description=f"Entries grouped by error signature (type + code + message with "
        f"numbers, ids, quoted text … normalised), most frequent first, with a "
        f"{ANALYSIS_DAYS}-day daily trend. Open entries only unless "
        f"`include_resolved`.",
    )
    def get(self, request):
        query = s.DeadLetterAnalysisQueryIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        include = query.validated_data["include_resolved"]
        now = timezone.now()
        groups = selectors.dead_letter_analysis(
            now=now, days=ANALYSIS_DAYS, include_resolved=include
        )
        body = {
            "since": (now - timedelta(days=ANALYSIS_DAYS - 1)).date(),
            "days": ANALYSIS_DAYS,
            "include_resolved": include,
            "groups": groups,
        }
        return Response(s.DeadLetterAnalysisOut(body).data)


class DeadLettersCleanupApi(APIView):
    required_scope = "admin"

    @extend_schema(
        operation_id="dlq_cleanup",
        request=s.DeadLetterCleanupIn,
        responses=s.DeadLetterCleanupOut,
        description="Deletes entries closed more than `older_than_days` days ago "
        "(open entries are never removed).",
    )
    def post(self, request):
        data = s.DeadLetterCleanupIn(data=request.data)
        data.is_valid(raise_exception=True)
        days = data.validated_data.get(
            "older_than_days", settings.CONDUCTOR_DLQ_RETENTION_DAYS
        )
        removed = services.dead_letters_cleanup(
            older_than_days=days, actor=actor_of(request)
        )
        body = {"removed": removed, "older_than_days": days}
        return Response(s.DeadLetterCleanupOut(body).data)
