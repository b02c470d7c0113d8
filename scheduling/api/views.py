"""Schedules: list, create, detail, change, delete; trigger, pause, resume; history
and preview; and the stand-alone preview of any expression.

Reads need ``read``; creation, changes and actions ``write``; deletion ``admin``.
"""

from datetime import datetime

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor.api.auth import AdminDeletes, actor_of
from conductor.api.envelope import CursorPage, NamePage
from conductor.api.job_input import utc_or_none
from conductor.api.openapi import conflict
from conductor.errors import FieldError, ValidationFailed
from scheduling import cron, selectors, services
from scheduling.api import serializers as s
from scheduling.models import Schedule, ScheduleRun


def _after(query: dict) -> datetime:
    after = query.get("after")
    if after is None:
        return timezone.now()
    moment = utc_or_none(after)
    if moment is None:
        raise ValidationFailed([FieldError("after", "out of range", "range")])
    return moment


def _preview(expression: cron.Cron, after: datetime, count: int) -> dict:
    return {
        "cron": expression.expression,
        "timezone": expression.timezone,
        "description": expression.description,
        "fire_times": [t.isoformat() for t in expression.times(after, count)],
    }


class SchedulesApi(generics.GenericAPIView):
    serializer_class = s.ScheduleOut
    pagination_class = NamePage
    queryset = Schedule.objects.none()  # for the schema generator

    @extend_schema(operation_id="schedules_list", responses=s.ScheduleOut(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.schedule_list())
        return self.get_paginated_response(s.ScheduleOut(page, many=True).data)

    @extend_schema(
        operation_id="schedules_create",
        request=s.ScheduleIn,
        responses={201: s.ScheduleOut, **conflict("A schedule with this name exists")},
        description="A cron expression in a time zone, or an event type; a job "
        "(type and payload) or a workflow. Errors name the field.",
    )
    def post(self, request):
        data = s.ScheduleIn(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = services.schedule_create(
            data=dict(data.validated_data), actor=actor_of(request), now=timezone.now()
        )
        response = Response(s.ScheduleOut(schedule).data, status=201)
        response["Location"] = f"/api/v2/schedules/{schedule.id}"
        return response


class SchedulePreviewApi(APIView):
    required_scope = "read"

    @extend_schema(
        operation_id="schedules_preview_expression",
        parameters=[s.PreviewIn],
        responses=s.PreviewOut,
        description="The next fire times of any expression in a time zone, "
        "computed without creating anything.",
    )
    def get(self, request):
        query = s.PreviewIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        values = query.validated_data
        expression = cron.parse(values["cron"], values["timezone"])
        return Response(_preview(expression, _after(values), values["count"]))


class ScheduleDetailApi(AdminDeletes, APIView):
    @extend_schema(operation_id="schedules_detail", responses=s.ScheduleOut)
    def get(self, request, id):
        return Response(s.ScheduleOut(selectors.schedule_get(id=id)).data)

    @extend_schema(
        operation_id="schedules_update",
        request=s.SchedulePatchIn,
        responses={200: s.ScheduleOut, **conflict("A schedule with this name exists")},
        description="A change of when it fires counts from now: the next fire time "
        "is the first after now.",
    )
    def patch(self, request, id):
        schedule = selectors.schedule_get(id=id)
        data = s.SchedulePatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = services.schedule_update(
            schedule=schedule, data=dict(data.validated_data),
            actor=actor_of(request), now=timezone.now(),
        )  # fmt: skip
        return Response(s.ScheduleOut(schedule).data)

    @extend_schema(operation_id="schedules_delete", responses={204: None})
    def delete(self, request, id):
        schedule = selectors.schedule_get(id=id)
        services.schedule_delete(
            schedule=schedule, actor=actor_of(request), now=timezone.now()
        )
        return Response(status=204)


class ScheduleTriggerApi(APIView):
    @extend_schema(
        operation_id="schedules_trigger",
        request=None,
        responses={201: s.ScheduleRunOut},
        description="Runs the schedule now, whatever its cron says (the overlap "
        "policy still applies: the run may be `skipped`).",
    )
    def post(self, request, id):
        schedule = selectors.schedule_get(id=id)
        run = services.schedule_trigger(
            schedule=schedule, actor=actor_of(request), now=timezone.now()
        )
        return Response(s.ScheduleRunOut(run).data, status=201)


class SchedulePauseApi(APIView):
    @extend_schema(
        operation_id="schedules_pause", request=None, responses=s.ScheduleOut
    )
    def post(self, request, id):
        schedule = services.schedule_pause(
            schedule=selectors.schedule_get(id=id), actor=actor_of(request),
            now=timezone.now(),
        )  # fmt: skip
        return Response(s.ScheduleOut(schedule).data)


class ScheduleResumeApi(APIView):
    @extend_schema(
        operation_id="schedules_resume",
        request=None,
        responses=s.ScheduleOut,
        description="Fires again from the first fire time after now; what fell while "
        "it was paused is not caught up.",
    )
    def post(self, request, id):
        schedule = services.schedule_resume(
            schedule=selectors.schedule_get(id=id), actor=actor_of(request),
            now=timezone.now(),
        )  # fmt: skip
        return Response(s.ScheduleOut(schedule).data)


class RunPage(CursorPage):
    """Newest fire time first."""

    ordering = ("-scheduled_for", "-id")


class ScheduleHistoryApi(generics.GenericAPIView):
    serializer_class = s.ScheduleRunOut
    pagination_class = RunPage
    queryset = ScheduleRun.objects.none()  # for the schema generator

    @extend_schema(
        operation_id="schedules_history",
        parameters=[s.HistoryFilterIn],
        responses=s.ScheduleRunOut(many=True),
    )
    def get(self, request, id):
        schedule = selectors.schedule_get(id=id)
        query = s.HistoryFilterIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        runs = selectors.schedule_history(schedule=schedule, **query.validated_data)
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(s.ScheduleRunOut(page, many=True).data)


class ScheduleNextApi(APIView):
    @extend_schema(
        operation_id="schedules_preview",
        parameters=[s.SchedulePreviewIn],
        responses=s.PreviewOut,
        description="The schedule's next fire times, in its time zone (none for an "
        "event-driven schedule).",
    )
    def get(self, request, id):
        schedule = selectors.schedule_get(id=id)
        query = s.SchedulePreviewIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        values = query.validated_data
        if not schedule.cron:
            return Response({"cron": "", "timezone": schedule.timezone,
                             "description": f"on each {schedule.event_type} event",
                             "fire_times": []})  # fmt: skip
        expression = cron.parse(schedule.cron, schedule.timezone)
        return Response(_preview(expression, _after(values), values["count"]))
