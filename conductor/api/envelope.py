"""The success envelope ``{"success": true, "data": …, "meta": {…}}`` and pagination.

Views return plain data; the renderer wraps it. Lists put their cursor in
``meta.pagination``. Problem responses (status ≥ 400) are rendered as they are.
"""

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


def meta(request, **extra: Any) -> dict[str, Any]:
    django_request = getattr(request, "_request", request)
    return {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "version": getattr(django_request, "api_version", "2"),
        "requestId": getattr(django_request, "request_id", ""),
        **extra,
    }


class EnvelopeRenderer(JSONRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        context = renderer_context or {}
        response = context.get("response")
        if response is None or response.status_code >= 400:
            return super().render(data, accepted_media_type, renderer_context)
        if response.status_code == 204:
            return b""
        body = {
            "success": True,
            "data": data,
            "meta": meta(context.get("request"), **getattr(response, "meta", {})),
        }
        return super().render(body, accepted_media_type, renderer_context)


class JsonOnlyNegotiation(BaseContentNegotiation):
    """The API speaks JSON only, whatever ``Accept`` says (including the vendor type
    ``application/vnd.k1n.v2+json`` used for version negotiation)."""

    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        for parser in parsers:
            if content_type.split(";")[0].strip() in (parser.media_type, ""):
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class CursorPage(CursorPagination):
    """Opaque cursors (stable under inserts), newest first."""

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request) -> int:
        """A bad ``page_size`` is a 400 naming it, not silently the default."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        digits = raw.isascii() and raw.isdigit()  # not "²", which int() refuses
        if not digits or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {"page_size": [f"must be an integer from 1 to {self.max_page_size}"]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model  # what a cursor's position is checked against
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        """A cursor is opaque but not trusted: one that does not decode, or whose
        position is not a value of the ordering column (a crafted one), is a 400."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or self._position_valid(cursor.position)
        if not valid:
            raise ValidationError({"cursor": ["invalid cursor"]})
        return cursor

    def _position_valid(self, position: str | None) -> bool:
        if position is None:
            return True
        if "\x00" in position:
            return False
        field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            value = field.to_python(position)
            field.run_validators(value)
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            return False
        # the cursors we hand out carry aware moments
        return not (isinstance(value, datetime) and value.tzinfo is None)

    def get_paginated_response(self, data) -> Response:
        response = Response(data)
        response.meta = {
            "pagination": {
                "next_cursor": _cursor(self.get_next_link()),
                "previous_cursor": _cursor(self.get_previous_link()),
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "page_size": self.page_size,
                "has_more": self.has_next,
            }
        }
        return response

    def get_paginated_response_schema(self, schema):
        return schema


class NamePage(CursorPage):
    """Named things (policies, breakers, job types, workflows), by name."""

    ordering = "name"


class EventCursorPage(CursorPage):
    """The journal reads oldest first, by its monotonic id."""

    ordering = "id"


def _cursor(link: str | None) -> str | None:
    if not link:
        return None
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(link).query).get("cursor", [None])[0]
