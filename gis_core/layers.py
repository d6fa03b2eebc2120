"""Reading a layer of any file GDAL opens (GeoPackage, Shapefile, GeoJSON, CSV ...) through Django's GDAL
bindings, for the import commands: open it with the CRS it declares (or one the caller names, as a CSV
declares none) and read a feature's attribute as text. Each importer raises its own error from
``LayerError``'s message, so its command's message names the file and what is wrong with it."""
from __future__ import annotations

from pathlib import Path

from django.contrib.gis.gdal import DataSource, GDALException, SpatialReference


class LayerError(Exception):
    """The layer cannot be read at all (the message says why)."""


def open_layer(path: Path | str, layer: str | int = 0, source_srid: int | None = None):
    """Return ``(source, layer, srs)``; keep ``source`` while the layer is read (it holds the file open).
    ``source_srid`` overrides the CRS the file declares; a file that declares none needs it."""
    try:
        source = DataSource(str(path))
        lyr = source[layer]
    except (GDALException, IndexError, KeyError) as exc:
        raise LayerError(f"{path}: cannot open layer {layer!r} ({exc})") from exc
    try:
        srs = SpatialReference(source_srid) if source_srid else lyr.srs
    except (GDALException, ValueError) as exc:
        raise LayerError(f"unknown CRS EPSG:{source_srid}") from exc
    if srs is None:
        raise LayerError(f"{path}: the file declares no CRS; pass --srid")
    return source, lyr, srs


def attr(feature, name: str) -> str:
    """Return a feature's attribute as stripped text; "" when the layer has no such field or it is empty."""
    try:
        value = feature.get(name)
    except (GDALException, IndexError, KeyError):
        return ""
    return "" if value is None else str(value).strip()
