"""Path converters of API v2."""

from django.urls import register_converter

from conductor import names


class NameConverter:
    """Names in paths (job types, workflows, breakers, retry policies): letters,
    digits and ``_ . : -``. Anything else is a 404 before a view runs."""

    regex = names.PATTERN

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(NameConverter, "name")
