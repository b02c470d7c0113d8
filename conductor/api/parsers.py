"""A JSON parser that answers every malformed body with a 4xx, never a 500.

Refused: bodies over the size limit (413), bytes that are not UTF-8, invalid JSON,
nesting deeper than the limit (including 10,000-deep arrays that would exhaust
Python's recursion), ``NaN``/``Infinity`` and numbers that overflow to infinity
(``1e400``), integers longer than Python accepts, and strings that PostgreSQL cannot
store (NUL, lone surrogates).
"""

import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from conductor import jsonvalue
from conductor.api.errors import InvalidJson, PayloadTooLargeError


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
        if not raw.strip():
            return {}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"the body is not UTF-8: {exc.reason} at byte {exc.start}"
            ) from None
        try:
            value = json.loads(
                text, parse_float=_finite_float, parse_constant=_refuse_constant
            )
        except RecursionError:
            raise ParseError("the JSON is nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"invalid JSON: {exc}") from None
        found = jsonvalue.problems(
            value, path="body", max_depth=settings.CONDUCTOR_API_JSON_MAX_DEPTH
        )
        if found:
            raise InvalidJson(found)
        return value
