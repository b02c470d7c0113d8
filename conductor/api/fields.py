"""Input shapes shared by every app's API: strict about unknown fields and JSON types.

DRF's own fields read ``5`` as the text ``"5"`` and ``"5"`` (or ``true``) as a number;
these refuse both, naming the field, so what the OpenAPI document calls invalid is a
400 rather than quietly converted. ``StrictInput`` refuses fields it does not know
(the document says ``additionalProperties: false``).

Text is taken as sent (not trimmed), so its documented length is its real length;
"blank" means empty or only whitespace (``str.isspace``), and the document spells the
same rule as a pattern (``NOT_BLANK``). Numbers follow JSON Schema: ``5.0`` is the
integer 5, ``5.5`` is not an integer.
"""

import re

from rest_framework import serializers

#: The characters ``str.strip()`` removes (``str.isspace``), spelled out so that JSON
#: Schema validators, whose ``\\s`` differs, agree with the server.
WHITESPACE = (
    r"\t\n\u000b\u000c\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000"
)
#: Text PostgreSQL can store: no NUL character (the body parser refuses it).
NO_NUL = r"^[^\u0000]*$"
#: Storable text with at least one character that is not whitespace.
NOT_BLANK = rf"^[^\u0000]*[^\u0000{WHITESPACE}][^\u0000]*$"


def stripped_length(low: int, high: int) -> str:
    """A pattern for storable text whose ``str.strip()`` has ``low`` to ``high``
    characters (the check services make of reasons and notes)."""
    space, edge, any_ = f"[{WHITESPACE}]*", f"[^\\u0000{WHITESPACE}]", r"[^\u0000]"
    if high == 0:
        core = ""
    elif high == 1:
        core = edge
    elif low >= 2:
        core = f"{edge}{any_}{{{low - 2},{high - 2}}}{edge}"
    else:
        core = f"{edge}(?:{any_}{{0,{high - 2}}}{edge})?"
    if low == 0 and core:
        core = f"(?:{core})?"
    return f"^{space}{core}{space}$"


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


class PayloadField(serializers.JSONField):
    """A JSON object validated against the job type's own JSON Schema
    (described by ``conductor.api.openapi.PayloadFieldScheme``)."""


class AnyJsonField(serializers.JSONField):
    """An output of any JSON value, ``null`` included: described as ``{}``, not as a
    ``oneOf`` whose two branches would both match ``null``."""


class _TextOnly:
    default_error_messages = {"not_text": "Not a valid string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


class TextField(_TextOnly, serializers.CharField):
    """Text, and only text, taken as sent; blank (only whitespace) unless
    ``allow_blank`` is refused. ``stripped=(low, high)``: the text without its
    surrounding whitespace has ``low`` to ``high`` characters (``pattern``)."""

    default_error_messages = {
        "length": "must be {low} to {high} characters, surrounding whitespace aside"
    }

    def __init__(self, *, stripped: tuple[int, int] | None = None, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        self.stripped, self.pattern = stripped, None
        if stripped is not None:
            # Checked here, not by a validator: drf-spectacular would document a
            # validator's pattern a second time, as a oneOf with "".
            self.pattern = stripped_length(*stripped)
            kwargs["allow_blank"] = stripped[0] == 0
        super().__init__(**kwargs)

    def run_validation(self, data=serializers.empty):
        if isinstance(data, str) and not self.allow_blank and not data.strip():
            self.fail("blank")
        value = super().run_validation(data)
        if self.pattern is not None and not re.search(self.pattern, value or ""):
            self.fail("length", low=self.stripped[0], high=self.stripped[1])
        return value


class PatternField(_TextOnly, serializers.RegexField):
    """Text matching a pattern, taken as sent (`` a`` does not match ``^a$``)."""

    def __init__(self, regex, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(regex, **kwargs)


class WholeNumberField(serializers.IntegerField):
    """A JSON integer (``5`` or ``5.0``; not a boolean, ``5.5`` or text)."""

    def to_internal_value(self, data):
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class NumberField(serializers.FloatField):
    """A JSON number (not a boolean or text)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            return super().to_internal_value(data)
        except OverflowError:  # an integer too large for a float
            self.fail("invalid")


class TrueFalseField(serializers.BooleanField):
    """``true`` or ``false`` (not 1, "yes" or "on")."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data
