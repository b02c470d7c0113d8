"""Job types: what can be submitted, with schema, docs and sample payload."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor import selectors
from conductor.api import serializers as s
from conductor.api.envelope import NamePage
from conductor.models import JobType


class JobTypesApi(generics.GenericAPIView):
    serializer_class = s.JobTypeOut
    pagination_class = NamePage
    queryset = JobType.objects.none()  # for the schema generator

    @extend_schema(operation_id="job_types_list", responses=s.JobTypeOut(many=True))
    def get(self, request):
        types = self.paginate_queryset(selectors.job_type_list())
        run_time = selectors.job_type_stats(
            names=[t.name for t in types], now=timezone.now()
        )
        return self.get_paginated_response(
            s.JobTypeOut(types, many=True, context={"run_time": run_time}).data
        )


class JobTypeDetailApi(APIView):
    @extend_schema(operation_id="job_types_detail", responses=s.JobTypeOut)
    def get(self, request, name):
        return Response(s.JobTypeOut(selectors.job_type_get(name=name)).data)
