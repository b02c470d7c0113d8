"""Job types: what can be submitted, with schema, docs and sample payload."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from conductor import selectors
from conductor.api import serializers as s


class JobTypesApi(APIView):
    @extend_schema(operation_id="job_types_list", responses=s.JobTypeOut(many=True))
    def get(self, request):
        types = list(selectors.job_type_list())
        run_time = selectors.job_type_stats(
            names=[t.name for t in types], now=timezone.now()
        )
        return Response(
            s.JobTypeOut(types, many=True, context={"run_time": run_time}).data
        )


class JobTypeDetailApi(APIView):
    @extend_schema(operation_id="job_types_detail", responses=s.JobTypeOut)
    def get(self, request, name):
        return Response(s.JobTypeOut(selectors.job_type_get(name=name)).data)
