"""Input shapes shared by every app's API: strict about unknown fields and JSON types.

DRF's own fields read ``5`` as the text ``"5"`` and ``"5"`` (or ``true``) as a number;
these refuse both, naming the field, so what the OpenAPI document calls invalid is a
400 rather than quietly converted. ``StrictInput`` refuses fields it does not know.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictInput(serializers.Serializer):
    """Refuses fields it does not know, naming them, instead of ignoring typos."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["unknown field"] for name in unknown}
                )
        return super().to_internal_value(data)


@extend_schema_field({"type": "object", "additionalProperties": True})
class PayloadField(serializers.JSONField):
    """A JSON object validated against the job type's own JSON Schema."""


class _TextOnly:
    default_error_messages = {"not_text": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class TextField(_TextOnly, serializers.CharField):
    """Text, and only text."""


class PatternField(_TextOnly, serializers.RegexField):
    """Text matching a pattern."""


class WholeNumberField(serializers.IntegerField):
    """A JSON integer (not a boolean, a float or text)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class NumberField(serializers.FloatField):
    """A JSON number (not a boolean or text)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class TrueFalseField(serializers.BooleanField):
    """``true`` or ``false`` (not 1, "yes" or "on")."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data
