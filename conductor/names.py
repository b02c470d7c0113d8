"""Names of things that stand in API paths: job types, workflows, breakers, retry
policies. Pure: one definition, used by the registry, the services, the serializers and
the URL converter.

A name is 1 to 100 letters, digits and ``_ . : -``.
"""

import re

from conductor.errors import FieldError, ValidationFailed

#: The pattern, unanchored (URL converters anchor it themselves).
PATTERN = r"[A-Za-z0-9_.:-]{1,100}"
#: The pattern anchored, for serializers' ``RegexField``.
ANCHORED = rf"^{PATTERN}$"
RULE = "1 to 100 letters, digits and _ . : -"

_NAME = re.compile(PATTERN)


def is_name(value: object) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def checked(value: object, *, field: str = "name") -> str:
    """``value`` if it is a valid name, else ``ValidationFailed`` naming ``field``."""
    if not is_name(value):
        raise ValidationFailed([FieldError(field, RULE, "invalid")])
    return value  # type: ignore[return-value]
