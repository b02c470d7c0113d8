"""One job: its detail, history, progress, result, explanation, dependencies, and the
actions on it (cancel, retry, resume).

Each view: input → one service or selector → output.
"""

from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor import selectors, services
from conductor.api import serializers as s
from conductor.api.auth import actor_of
from conductor.api.envelope import CursorPage, EventCursorPage
from conductor.api.openapi import conflict
from conductor.engine.explain import job_explain
from conductor.errors import NotFound
from conductor.models import Event, Job, RetryAttempt
from recovery import services as recovery_services


class JobDetailApi(APIView):
    @extend_schema(operation_id="jobs_detail", responses=s.JobOut)
    def get(self, request, id):
        return Response(s.JobOut(selectors.job_get(id=id)).data)


class AttemptPage(CursorPage):
    """The first attempt first."""

    ordering = "attempt_number"


class JobAttemptsApi(generics.GenericAPIView):
    serializer_class = s.JobAttemptOut
    pagination_class = AttemptPage
    queryset = RetryAttempt.objects.none()  # for the schema generator

    @extend_schema(operation_id="jobs_attempts", responses=s.JobAttemptOut(many=True))
    def get(self, request, id):
        job = selectors.job_get(id=id)
        page = self.paginate_queryset(selectors.job_attempts(job=job))
        return self.get_paginated_response(s.JobAttemptOut(page, many=True).data)


class JobEventsApi(generics.GenericAPIView):
    serializer_class = s.EventOut
    pagination_class = EventCursorPage
    queryset = Event.objects.none()  # for the schema generator; reads use selectors

    @extend_schema(operation_id="jobs_events", responses=s.EventOut(many=True))
    def get(self, request, id):
        job = selectors.job_get(id=id)
        page = self.paginate_queryset(selectors.job_events(job=job))
        return self.get_paginated_response(s.EventOut(page, many=True).data)


class JobProgressApi(APIView):
    @extend_schema(operation_id="jobs_progress", responses=s.JobProgressDetailOut)
    def get(self, request, id):
        job = selectors.job_get(id=id)
        progress = selectors.job_progress(job=job, now=timezone.now())
        return Response(
            s.JobProgressDetailOut({"id": job.id, "state": job.state, **progress}).data
        )


class JobResultApi(APIView):
    @extend_schema(operation_id="jobs_result", responses=s.JobResultOut)
    def get(self, request, id):
        job = selectors.job_get(id=id)
        file = None
        if job.result_file:
            file = {
                "name": job.result_file.name.rsplit("/", 1)[-1],
                "size": _size(job),
                "url": f"/api/v2/jobs/{job.id}/result/download",
            }
        body = {"id": job.id, "state": job.state, "result": job.result, "file": file,
                "reference": job.result_reference}  # fmt: skip
        return Response(s.JobResultOut(body).data)


def _size(job: Job) -> int | None:
    try:
        return job.result_file.size
    except OSError:
        return None


class JobResultDownloadApi(APIView):
    @extend_schema(
        operation_id="jobs_result_download",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="the result file, streamed"
            )
        },
    )
    def get(self, request, id):
        job = selectors.job_get(id=id)
        if not job.result_file:
            raise NotFound("this job has no result file")
        try:
            handle = job.result_file.open("rb")
        except OSError:
            raise NotFound("the result file is gone from storage") from None
        name = job.result_file.name.rsplit("/", 1)[-1]
        return FileResponse(handle, as_attachment=True, filename=name)


ENDED = conflict("The job already ended: there is nothing to cancel")
NOT_RETRYABLE = conflict(
    "Only failed or dead jobs can be retried (and not while a dependency they "
    "need ended without success)"
)
NOT_CANCELLED = conflict(
    "Only cancelled jobs can be resumed (and not while a dependency they need "
    "ended without success)"
)


class JobCancelApi(APIView):
    @extend_schema(
        operation_id="jobs_cancel",
        request=s.JobCancelIn,
        responses={200: s.JobOut, **ENDED},
    )
    def post(self, request, id):
        data = s.JobCancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.job_cancel(
            job_id=id, actor=actor_of(request), **data.validated_data
        )
        return Response(s.JobOut(job).data)


class JobRetryApi(APIView):
    @extend_schema(
        operation_id="jobs_retry",
        request=s.JobRetryIn,
        responses={200: s.JobOut, **NOT_RETRYABLE},
    )
    def post(self, request, id):
        data = s.JobRetryIn(data=request.data)
        data.is_valid(raise_exception=True)
        job = recovery_services.job_retry(
            job_id=id, actor=actor_of(request), **data.validated_data
        )
        return Response(s.JobOut(job).data)


class JobResumeApi(APIView):
    @extend_schema(
        operation_id="jobs_resume",
        request=None,
        responses={200: s.JobOut, **NOT_CANCELLED},
    )
    def post(self, request, id):
        job = services.job_resume(job_id=id, actor=actor_of(request))
        return Response(s.JobOut(job).data)


class JobExplainApi(APIView):
    @extend_schema(operation_id="jobs_explain", responses=s.JobExplainOut)
    def get(self, request, id):
        job = selectors.job_get(id=id)
        reasons = job_explain(job=job, now=timezone.now())
        return Response({"id": str(job.id), "state": job.state, "reasons": reasons})


class JobDependenciesApi(APIView):
    @extend_schema(
        operation_id="jobs_dependencies", responses=s.JobSummaryOut(many=True)
    )
    def get(self, request, id):
        jobs = selectors.job_dependencies(job=selectors.job_get(id=id))
        return Response(s.JobSummaryOut(jobs, many=True).data)


class JobDependentsApi(APIView):
    @extend_schema(operation_id="jobs_dependents", responses=s.JobSummaryOut(many=True))
    def get(self, request, id):
        jobs = selectors.job_dependents(job=selectors.job_get(id=id))
        return Response(s.JobSummaryOut(jobs, many=True).data)
