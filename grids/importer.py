"""Import grid boundaries from any file GDAL reads into a draft generation, all or nothing.

Each feature is transformed from the CRS its file declares to EPSG:4326, forced to 2D and to a
MultiPolygon, and repaired when invalid (or refused, with a message naming the feature).
The caller decides whether to keep the result: ``import_grids(..., commit=False)`` runs every
step inside a transaction and rolls it back (a dry run).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import shapely
from django.conf import settings
from django.contrib.gis.gdal import OGRGeometry, SpatialReference
from django.contrib.gis.geos import GEOSGeometry
from django.core.exceptions import ValidationError
from django.db import transaction

from gis_core.geometry import InvalidGeometry, repair_polygonal
from gis_core.layers import LayerError, open_layer
from gis_core.layers import attr as _attr
from grids.codes import code20_of
from grids.models import BoundaryGeneration, Grid, Town, Village


class BoundaryImportError(Exception):
    """The file cannot be imported; nothing was saved (the message says which feature and why)."""


@dataclass
class FieldMap:
    """Which attribute of the file holds each grid property."""

    code: str = "code"
    code20: str = "code20"
    name: str = "name"
    kind: str = "kind"
    purpose: str = "purpose"
    village: str = "village_code"


@dataclass
class ImportReport:
    generation_id: int | None = None
    committed: bool = False
    features: int = 0
    source_srid: int | None = None
    repaired: list[str] = field(default_factory=list)
    by_kind: dict[str, int] = field(default_factory=dict)


def _to_storage(geom: OGRGeometry, srs: SpatialReference, label: str) -> tuple[GEOSGeometry, str | None]:
    """Transform one OGR geometry to a valid 2D EPSG:4326 MultiPolygon (and a repair note)."""
    geom = geom.clone()
    geom.srs = srs
    geom.transform(SpatialReference(4326))
    geom.set_3d(False)
    geom.set_measured(False)
    try:
        repaired, note = repair_polygonal(shapely.from_wkb(bytes(geom.wkb)))
    except InvalidGeometry as exc:
        raise BoundaryImportError(f"{label}: {exc}") from exc
    return GEOSGeometry(memoryview(shapely.to_wkb(repaired)), srid=4326), note


def _grid_from(feature, index: int, srs, fields: FieldMap, town: Town, villages: dict) -> tuple[Grid, str | None]:
    code = _attr(feature, fields.code)
    label = f"feature {index} (code {code or '?'})"
    if not (len(code) == 15 and code.isdigit() and code.startswith(town.code)):
        raise BoundaryImportError(f"{label}: code must be 15 digits starting with the town code {town.code}")
    if feature.geom is None:
        raise BoundaryImportError(f"{label}: no geometry")
    limit = settings.GRID_BOUNDARY_MAX_VERTICES
    if feature.geom.point_count > limit:  # before the transformation and the repair
        raise BoundaryImportError(f"{label}: more than {limit} vertices (GRID_BOUNDARY_MAX_VERTICES)")
    boundary, note = _to_storage(feature.geom, srs, label)
    village = villages.get(_attr(feature, fields.village)) or villages.get(code[:12])
    if village is None:
        raise BoundaryImportError(f"{label}: no village with code {_attr(feature, fields.village) or code[:12]}")
    kind = _attr(feature, fields.kind) or Grid.Kind.COMPREHENSIVE
    purpose = _attr(feature, fields.purpose) if kind == Grid.Kind.DEDICATED else ""
    code20 = _attr(feature, fields.code20) or _code20(code, kind, purpose)
    grid = Grid(village=village, kind=kind, code=code, code20=code20, name=_attr(feature, fields.name) or code,
                purpose=purpose, boundary=boundary)
    try:
        grid.full_clean(exclude=["generation"], validate_unique=False)
    except ValidationError as exc:
        raise BoundaryImportError(f"{label}: {'; '.join(exc.messages)}") from exc
    return grid, (f"{label}: {note}" if note else None)


def _code20(code: str, kind: str, purpose: str) -> str:
    """The 20-digit code by the rule of grids.codes, or none when the rule does not reach the grid."""
    try:
        return code20_of(code, kind, purpose)
    except ValueError:
        return ""


def import_grids(path: Path, *, town_code: str, layer: str | int = 0, fields: FieldMap | None = None,
                 description: str = "", commit: bool = False, source_srid: int | None = None) -> ImportReport:
    """Read grids from ``path`` into a new draft generation of the town; roll back unless ``commit``."""
    fields = fields or FieldMap()
    town = Town.objects.filter(code=town_code).first()
    if town is None:
        raise BoundaryImportError(f"no town with code {town_code}")
    try:
        source, lyr, srs = open_layer(Path(path), layer, source_srid)
    except LayerError as exc:
        raise BoundaryImportError(str(exc)) from exc
    if len(lyr) == 0:
        raise BoundaryImportError(f"{path}: the layer has no features")
    report = ImportReport(features=len(lyr), source_srid=srs.srid)
    villages = {v.code: v for v in Village.objects.filter(town=town)}
    with transaction.atomic():
        generation = BoundaryGeneration.objects.create(
            town=town, description=description or f"import {Path(path).name}"
        )
        grids = []
        for index, feature in enumerate(lyr):
            grid, note = _grid_from(feature, index, srs, fields, town, villages)
            grid.generation = generation
            grids.append(grid)
            if note:
                report.repaired.append(note)
        _check_unique_codes(grids)
        Grid.objects.bulk_create(grids)
        report.generation_id = generation.pk
        report.by_kind = {k: sum(1 for g in grids if g.kind == k) for k in {g.kind for g in grids}}
        if not commit:
            transaction.set_rollback(True)
    report.committed = commit
    return report


def _check_unique_codes(grids: list[Grid]) -> None:
    seen: set[str] = set()
    for grid in grids:
        if grid.code in seen:
            raise BoundaryImportError(f"code {grid.code} appears more than once")
        seen.add(grid.code)
