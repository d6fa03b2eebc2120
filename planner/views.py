"""The planner's page: the boundary editor (drafts, vertices, preview, publish), on the pages' shell."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from planner.apis import may_plan
from web.views import page_context


@login_required
def planner_page(request):
    """Render the planner's boundary editor; planners only, as its API."""
    if not may_plan(request.user):
        raise PermissionDenied("only planners edit boundary generations")
    return render(request, "planner/planner.html", page_context())
