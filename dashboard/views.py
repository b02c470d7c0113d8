"""Dashboard pages: server-rendered, login required, refreshed by htmx."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from dashboard import selectors


@login_required
def overview(request):
    template = (
        "dashboard/_overview_live.html" if request.htmx else "dashboard/overview.html"
    )
    return render(request, template, {"overview": selectors.overview()})
