"""Path converters of API v2."""

from django.urls import register_converter

NAME_PATTERN = r"[A-Za-z0-9_.:-]{1,100}"


class NameConverter:
    """Names in paths (job types, workflows, breakers, retry policies): letters,
    digits and ``_ . : -``. Anything else is a 404 before a view runs."""

    regex = NAME_PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NameConverter, "name")
