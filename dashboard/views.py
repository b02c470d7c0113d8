"""Dashboard pages: server-rendered, for signed-in users with a role, refreshed by htmx.

A page needs the ``read`` scope (any role: viewer, operator, admin); actions, as they
come, need ``write`` — the same rule as the API (``conductor.roles``).
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from conductor.roles import user_scopes
from dashboard import selectors


def needs(scope: str) -> Callable:
    """A view for signed-in users whose role grants ``scope``; others get 403."""

    def decorate(view):
        @login_required
        @wraps(view)
        def checked(request, *args, **kwargs):
            if scope not in user_scopes(request.user):
                raise PermissionDenied(f"this page needs the {scope} scope (a role)")
            return view(request, *args, **kwargs)

        return checked

    return decorate


@needs("read")
def overview(request):
    template = (
        "dashboard/_overview_live.html" if request.htmx else "dashboard/overview.html"
    )
    return render(request, template, {"overview": selectors.overview()})
