"""Writes on components: the standard's classes, and filing each component under the grid it stands in."""
from __future__ import annotations

import json
import re
from pathlib import Path

from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver

from components.codes import TYPE_PATTERN
from components.models import Component, ComponentType
from grids import locator
from grids.models import BoundaryGeneration, Grid
from grids.signals import generation_activated

TYPES_FILE = Path(__file__).resolve().parent / "data" / "component_types.json"


class ComponentTypeError(Exception):
    """A types file cannot be read or holds a bad class (the message names it)."""


@transaction.atomic
def component_types_load(path: Path = TYPES_FILE) -> int:
    """Create or update the classes of a types file (``data/component_types.json``'s shape) by code, major
    classes first; return how many the file holds. Classes not in the file are kept."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))["types"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ComponentTypeError(f"{path}: cannot read component types ({exc})") from exc
    for row in sorted(rows, key=lambda r: len(str(r.get("code", ""))) if isinstance(r, dict) else 0):
        code, name = (str(row.get(k, "")) for k in ("code", "name")) if isinstance(row, dict) else ("", "")
        parent = code[:2] if len(code) == 4 else None
        if not re.match(TYPE_PATTERN, code) or not name:
            raise ComponentTypeError(f"{path}: type {code or '?'}: a 2-digit 大类 or 4-digit 小类 code and a name")
        if parent and not ComponentType.objects.filter(code=parent).exists():
            raise ComponentTypeError(f"{path}: type {code}: its 大类 {parent} is not known")
        ComponentType.objects.update_or_create(
            code=code, defaults={"name": name, "name_en": str(row.get("name_en", "")), "parent_id": parent})
    return len(rows)


def place(component: Component, grid: Grid | None) -> None:
    """File the component under ``grid`` (the comprehensive grid it stands in), its village and town."""
    component.grid = grid
    component.village_id = grid.village_id if grid is not None else None
    component.town_id = grid.village.town_id if grid is not None else None


@receiver(generation_activated, dispatch_uid="components_follow_generation")
def components_follow_generation(*, generation: BoundaryGeneration, **kwargs) -> int:
    """Move the town's components to the grids of its newly active generation (in the publishing
    transaction); return how many changed grid row."""
    town = generation.town
    rows = Component.objects.filter(Q(grid__generation__town=town) | Q(location__coveredby=town.boundary))
    rows = list(rows.select_for_update(of=("self",)).order_by("pk").only("pk", "grid", "location"))
    moved = locator.follow_generation(rows, generation)
    for component, grid in moved:
        place(component, grid)
        Component.objects.filter(pk=component.pk).update(grid=grid, village_id=component.village_id,
                                                         town_id=component.town_id)
    return len(moved)
