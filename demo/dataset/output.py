"""Write the demo data set files: RFC 7946 GeoJSON (EPSG:4326, no crs member) and UTF-8 CSV.

Coordinates are written with full float precision (Python's shortest round-tripping repr), so
vertices shared by neighbouring polygons stay bit-identical after reading the files back. Output is
byte-for-byte deterministic: one feature per line, fixed key order, LF line ends.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry


def feature(properties: Mapping[str, Any], geom: BaseGeometry) -> dict[str, Any]:
    """Return a GeoJSON Feature dict for an EPSG:4326 geometry."""
    return {"type": "Feature", "properties": dict(properties), "geometry": _plain(mapping(geom))}


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, float):
        return float(value)
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)


def write_feature_collection(path: Path, name: str, features: Sequence[Mapping[str, Any]]) -> None:
    """Write a FeatureCollection with a top-level ``name`` and one feature per line."""
    lines = [_dumps(item) for item in features]
    body = ",\n".join(lines)
    text = f'{{"type": "FeatureCollection", "name": {_dumps(name)}, "features": [\n{body}\n]}}\n'
    Path(path).write_text(text, encoding="utf-8", newline="\n")


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a UTF-8 CSV (no BOM, LF line ends) with a header line and the given columns."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _csv_value(row[key]) for key in columns})
    Path(path).write_text(buffer.getvalue(), encoding="utf-8", newline="\n")


def _csv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
