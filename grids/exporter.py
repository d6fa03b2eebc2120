"""Export a generation's grids to a GIS file that ``import_grids`` reads back as it was.

The attribute names are the importer's defaults (``FieldMap``), so an exported file edited in a desktop
GIS goes back in with ``import_boundaries`` and no field options. Written with geopandas (pyogrio and
GDAL underneath): Django's GDAL bindings read but do not write vector files. The file is written next
to its destination and moved into place, so a failed export leaves no half-written file.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely
from django.contrib.gis.gdal import GDALException, SpatialReference

from gis_core.srid import STORAGE_SRID
from grids.importer import FieldMap
from grids.models import BoundaryGeneration


class BoundaryExportError(Exception):
    """The generation cannot be exported as asked (the message says why); no file was written."""


@dataclass(frozen=True)
class ExportFormat:
    driver: str
    suffix: str
    media_type: str


FORMATS = {
    "gpkg": ExportFormat("GPKG", ".gpkg", "application/geopackage+sqlite3"),
    "geojson": ExportFormat("GeoJSON", ".geojson", "application/geo+json"),
}


def check_srid(srid: int) -> int:
    """Return the SRID if GDAL knows it as a CRS; raise BoundaryExportError otherwise."""
    try:
        SpatialReference(srid)
    except (GDALException, ValueError) as exc:
        raise BoundaryExportError(f"unknown CRS EPSG:{srid}") from exc
    return srid


def grids_frame(generation: BoundaryGeneration, *, srid: int = STORAGE_SRID) -> gpd.GeoDataFrame:
    """Return the generation's grids (by code) as a GeoDataFrame in ``srid``, with the importer's fields."""
    fields = FieldMap()
    grids = list(generation.grids.select_related("village").order_by("code"))
    frame = gpd.GeoDataFrame(
        {fields.code: [g.code for g in grids], fields.code20: [g.code20 for g in grids],
         fields.name: [g.name for g in grids],
         fields.kind: [g.kind for g in grids], fields.purpose: [g.purpose for g in grids],
         fields.village: [g.village.code for g in grids], "village_name": [g.village.name for g in grids]},
        geometry=shapely.from_wkb([bytes(g.boundary.wkb) for g in grids]), crs=f"EPSG:{STORAGE_SRID}")
    return frame if srid == STORAGE_SRID else frame.to_crs(f"EPSG:{check_srid(srid)}")


def export_grids(generation: BoundaryGeneration, path: str | os.PathLike, *, fmt: str = "gpkg",
                 srid: int = STORAGE_SRID) -> int:
    """Write the generation's grids to ``path`` in ``fmt`` (see FORMATS) and CRS ``srid``; return how many."""
    if fmt not in FORMATS:
        raise BoundaryExportError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    frame = grids_frame(generation, srid=srid)
    if frame.empty:
        raise BoundaryExportError(f"generation {generation.pk} has no grids")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(suffix=FORMATS[fmt].suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # GDAL creates the file itself (an existing empty GeoPackage is not one it can open)
    try:
        frame.to_file(tmp, driver=FORMATS[fmt].driver, layer="grids" if fmt == "gpkg" else None, engine="pyogrio")
        os.replace(tmp, path)
    except Exception:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(frame)


def export_bytes(generation: BoundaryGeneration, *, fmt: str = "gpkg", srid: int = STORAGE_SRID) -> bytes:
    """Return the export file's content (for a download)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "grids"
        export_grids(generation, out, fmt=fmt, srid=srid)
        return out.read_bytes()
