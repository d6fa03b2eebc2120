"""Reads on components (querysets the API, the map layer and the admin share)."""
from __future__ import annotations

from django.db.models import QuerySet

from components.models import Component, ComponentType


def component_list(*, type_code: str | None = None, state: str | None = None,
                   grid_code: str | None = None) -> QuerySet[Component]:
    """Return components with their type and grid, of a 小类 (4 digits) or all of a 大类 (2 digits), a state
    and a grid code."""
    qs = Component.objects.select_related("type", "grid")
    if type_code:
        qs = qs.filter(type__parent_id=type_code) if len(type_code) == 2 else qs.filter(type_id=type_code)
    if state:
        qs = qs.filter(state=state)
    if grid_code:
        qs = qs.filter(grid__code=grid_code)
    return qs


def component_types() -> QuerySet[ComponentType]:
    """Return the classes, the major ones with their minor ones."""
    return ComponentType.objects.all()
