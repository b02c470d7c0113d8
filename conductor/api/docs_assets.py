"""Redoc's script, served from this machine with nothing in it that calls elsewhere.

The sidecar's ``redoc.standalone.js`` works offline except for one thing: its sidebar
shows a logo fetched from Redocly's CDN. We serve the same file with that address
replaced by an empty inline image (read once per process; the sidecar's version is
the one installed), and the Redoc page also carries a Content-Security-Policy that
allows this host only, so a later version that adds another address is refused too.
"""

from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
#: Addresses in the script that point off the machine, and what takes their place.
OFF_HOST = {
    b"https://cdn.redoc.ly/redoc/logo-mini.svg": (
        b"data:image/svg+xml,%3Csvg%20xmlns='http://www.w3.org/2000/svg'/%3E"
    ),
}


@cache
def _redoc() -> bytes:
    script = Path(finders.find(BUNDLE)).read_bytes()
    for address, replacement in OFF_HOST.items():
        script = script.replace(address, replacement)
    return script


def redoc_script(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_redoc(), content_type="text/javascript; charset=utf-8")
    patch_cache_control(response, public=True, max_age=86400)
    return response
