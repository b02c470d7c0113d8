"""Circuit breakers: list, detail, thresholds, reset, force open, transitions."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor.api.auth import actor_of
from conductor.api.envelope import CursorPage
from recovery import selectors, services
from recovery.api.serializers import breakers as s
from recovery.models import BreakerTransition, CircuitBreaker


class BreakerTransitionPage(CursorPage):
    """Newest first."""

    ordering = ("-created_at", "-id")


class BreakerPage(CursorPage):
    ordering = "service_name"


class BreakersApi(generics.GenericAPIView):
    serializer_class = s.BreakerOut
    pagination_class = BreakerPage
    queryset = CircuitBreaker.objects.none()  # for the schema generator

    @extend_schema(operation_id="breakers_list", responses=s.BreakerOut(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.breaker_list())
        return self.get_paginated_response(s.BreakerOut(page, many=True).data)


class BreakerDetailApi(APIView):
    @extend_schema(operation_id="breakers_detail", responses=s.BreakerOut)
    def get(self, request, service):
        return Response(s.BreakerOut(selectors.breaker_get(service=service)).data)

    @extend_schema(
        operation_id="breakers_update",
        request=s.BreakerPatchIn,
        responses=s.BreakerOut,
        description="Changes thresholds; errors name the field and its bound.",
    )
    def patch(self, request, service):
        data = s.BreakerPatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.breaker_update(
            service=service, changes=data.validated_data, actor=actor_of(request)
        )
        return Response(s.BreakerOut(row).data)


class BreakerResetApi(APIView):
    @extend_schema(
        operation_id="breakers_reset",
        request=None,
        responses=s.BreakerOut,
        description="Closes the breaker with an empty failure window.",
    )
    def post(self, request, service):
        row = services.breaker_reset(service=service, actor=actor_of(request))
        return Response(s.BreakerOut(row).data)


class BreakerForceOpenApi(APIView):
    @extend_schema(
        operation_id="breakers_force_open",
        request=None,
        responses=s.BreakerOut,
        description="Opens the breaker now, as if it had just tripped; its jobs are "
        "parked until `open_until`.",
    )
    def post(self, request, service):
        row = services.breaker_force_open(service=service, actor=actor_of(request))
        return Response(s.BreakerOut(row).data)


class BreakerTransitionsApi(generics.GenericAPIView):
    serializer_class = s.BreakerTransitionOut
    pagination_class = BreakerTransitionPage
    queryset = BreakerTransition.objects.none()  # for the schema generator

    @extend_schema(
        operation_id="breakers_transitions",
        responses=s.BreakerTransitionOut(many=True),
    )
    def get(self, request, service):
        row = selectors.breaker_get(service=service)
        page = self.paginate_queryset(selectors.breaker_transitions(breaker=row))
        return self.get_paginated_response(s.BreakerTransitionOut(page, many=True).data)
