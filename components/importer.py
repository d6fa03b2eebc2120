"""Import components from any point file GDAL reads (GeoPackage, Shapefile, CSV with x and y columns ...).

Each feature is checked on its own: a bad one (its code, type, state or point) is reported with a message
naming it and the others are imported. The point is transformed from the CRS the file declares (or
``source_srid``: a CSV declares none) to EPSG:4326 and filed under the grid it stands in (the active
generations, ``grids.locator``). Components are matched by their standard code, so importing the same
file again changes nothing. Read through Django's GDAL bindings (``DataSource``), in one transaction.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.gis.gdal import GDALException, OGRGeometry, SpatialReference
from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from components.codes import CODE_HELP, CODE_PATTERN, type_code_of
from components.models import Component, ComponentType
from components.services import place
from gis_core.coords import validate_lonlat
from gis_core.layers import LayerError, open_layer
from gis_core.layers import attr as _attr
from gis_core.srid import STORAGE_SRID
from grids import locator

PROGRESS_EVERY = 1000  # rows between two progress calls
COMPARED = ("type_id", "name", "owner_dept", "state", "grid_id", "village_id", "town_id")
_CODE = re.compile(CODE_PATTERN)


class ComponentImportError(Exception):
    """The file cannot be read at all (the message says why); nothing was imported."""


class RowError(Exception):
    """One feature cannot be imported (the message says why)."""


@dataclass
class FieldMap:
    """Which attribute of the file holds each component property (x and y: when it has no geometry)."""

    code: str = "code"
    type: str = "type_code"
    name: str = "name"
    owner: str = "owner_dept"
    state: str = "state"
    x: str = "x"
    y: str = "y"


@dataclass
class BadRow:
    row: int  # the feature's position in the layer, from 1
    code: str
    message: str


@dataclass
class ImportReport:
    source_srid: int | None = None
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    outside: int = 0  # imported, but in no comprehensive grid of the active generations
    errors: list[BadRow] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


_STATES = {**{value: value for value in Component.State.values},
           **{label.split()[0]: value for value, label in Component.State.choices}}


def _state(text: str) -> str:
    """Return the state of its value or its Chinese name (完好 ...), intact when empty."""
    if not text:
        return Component.State.INTACT
    state = _STATES.get(text) or _STATES.get(text.lower())
    if state is None:
        raise RowError(f"state {text!r} is none of {', '.join(sorted(_STATES))}")
    return state


def _geometry(feature, fields: FieldMap) -> OGRGeometry:
    """Return the feature's own geometry, or a point of its x and y attributes when it has none."""
    try:
        geom = feature.geom
    except GDALException:
        geom = None
    if geom is not None and not geom.empty:
        return geom.clone()
    x, y = _attr(feature, fields.x), _attr(feature, fields.y)
    if not x and not y:
        raise RowError(f"no geometry and no {fields.x}/{fields.y} columns")
    try:
        return OGRGeometry(f"POINT ({float(x)!r} {float(y)!r})")
    except (ValueError, GDALException):
        raise RowError(f"{fields.x}/{fields.y} must be numbers (got {x!r}, {y!r})") from None


def _point(feature, srs: SpatialReference, fields: FieldMap) -> Point:
    geom = _geometry(feature, fields)
    if geom.geom_name.upper() == "MULTIPOINT" and geom.geom_count == 1:
        geom = geom[0].clone()
    if geom.geom_name.upper() != "POINT":
        raise RowError(f"a component is a point, not a {geom.geom_name}")
    geom.srs = srs
    try:
        geom.transform(SpatialReference(STORAGE_SRID))
        lon, lat = geom.x, geom.y
        validate_lonlat(lon, lat)
    except (GDALException, ValueError) as exc:
        raise RowError(f"the point cannot be placed in EPSG:{STORAGE_SRID} ({exc})") from None
    return Point(lon, lat, srid=STORAGE_SRID)


def _component(feature, srs, fields: FieldMap, types: dict[str, ComponentType]) -> Component:
    """Return the unsaved component of one feature; RowError with the reason when it is bad."""
    code = _attr(feature, fields.code)
    if not _CODE.match(code):
        raise RowError(f"code {code!r}: {CODE_HELP}" if code else f"no code ({fields.code}): {CODE_HELP}")
    type_code = _attr(feature, fields.type) or type_code_of(code)
    if type_code != type_code_of(code):
        raise RowError(f"type {type_code} does not match the code's type digits {type_code_of(code)}")
    kind = types.get(type_code)
    if kind is None:
        raise RowError(f"unknown component type {type_code} (a 4-digit 小类 of the loaded GB/T 30428.2 classes)")
    return Component(code=code, type=kind, name=_attr(feature, fields.name)[:64],
                     owner_dept=_attr(feature, fields.owner)[:64], state=_state(_attr(feature, fields.state)),
                     location=_point(feature, srs, fields))


def import_components(path: str | Path, *, layer: str | int = 0, fields: FieldMap | None = None,
                      source_srid: int | None = None,
                      progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import the components of ``path``; bad features go to ``report.errors``, the rest are created or
    updated by code (all in one transaction). ``progress(rows_read)`` is called every PROGRESS_EVERY rows."""
    fields = fields or FieldMap()
    try:
        source, lyr, srs = open_layer(Path(path), layer, source_srid)
    except LayerError as exc:
        raise ComponentImportError(str(exc)) from exc
    report = ImportReport(source_srid=srs.srid)
    types = {t.code: t for t in ComponentType.objects.filter(parent__isnull=False)}
    good: dict[str, Component] = {}
    first_at: dict[str, int] = {}
    for n, feature in enumerate(lyr, start=1):
        report.read = n
        if progress and n % PROGRESS_EVERY == 0:
            progress(n)
        try:
            component = _component(feature, srs, fields, types)
            if component.code in good:
                raise RowError(f"code {component.code} appears again (first in row {first_at[component.code]})")
        except RowError as exc:
            report.errors.append(BadRow(n, _attr(feature, fields.code), str(exc)))
            continue
        good[component.code], first_at[component.code] = component, n
    del source  # closes the file
    _save(list(good.values()), report)
    return report


@transaction.atomic
def _save(components: list[Component], report: ImportReport) -> None:
    """Create the new components and update the changed ones (by code), each filed under its grid."""
    if not components:
        return
    grids = locator.grids_at([c.location.x for c in components], [c.location.y for c in components])
    existing = Component.objects.select_for_update().in_bulk([c.code for c in components], field_name="code")
    new, changed = [], []
    for component, grid in zip(components, grids, strict=True):
        place(component, grid)
        report.outside += grid is None
        old = existing.get(component.code)
        if old is None:
            new.append(component)
        elif all(getattr(old, f) == getattr(component, f) for f in COMPARED) and old.location.equals_exact(
                component.location, 1e-9):
            report.unchanged += 1
        else:
            component.pk = old.pk
            changed.append(component)
    Component.objects.bulk_create(new)
    if changed:
        now = timezone.now()
        for component in changed:
            component.updated_at = now  # bulk_update does not set auto_now fields
        Component.objects.bulk_update(changed, ["location", *COMPARED, "updated_at"])
    report.created, report.updated = len(new), len(changed)
