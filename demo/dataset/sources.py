"""Read the real public inputs of the demo data set (see data/boundaries/gongdao/source/).

All coordinates returned here are EPSG:4326 (WGS84 lon/lat, derived from GCJ-02 by the source).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import Point, Polygon, shape

from grids.models import Village

DISTRICT_FILE = "hanjiang_321003_district_wgs84_derived.geojson"
VILLAGES_FILE = "gongdao_villages_nbs.csv"
TOWNS_FILE = "hanjiang_towns_2023_nbs.csv"
SEAT_FILE = "gongdao_town_point.geojson"

TOWN_CODE = "321003100"
COMMUNITY_SUFFIX = "居委会"
VILLAGE_SUFFIX = "村委会"


class SourceError(Exception):
    """A source file is missing or does not hold what the generator expects."""


@dataclass(frozen=True)
class VillageSource:
    """One village-level unit of the NBS list (12-digit code)."""

    code: str
    name_nbs: str
    name: str
    stem: str
    kind: str
    urban_rural_class: str

    @property
    def segment(self) -> str:
        """Return the 3-digit village segment of the code (used in grid codes)."""
        return self.code[-3:]


@dataclass(frozen=True)
class TownSource:
    """Everything real the generator starts from."""

    code: str
    name: str
    seat_wgs84: Point
    district_wgs84: Polygon
    villages: tuple[VillageSource, ...]


def display_name(name_nbs: str) -> tuple[str, str, str]:
    """Return (display name, stem, kind) for an NBS name such as 花园居委会 or 太平村委会."""
    if name_nbs.endswith(COMMUNITY_SUFFIX):
        stem = name_nbs[: -len(COMMUNITY_SUFFIX)]
        return f"{stem}社区", stem, Village.Kind.COMMUNITY
    if name_nbs.endswith(VILLAGE_SUFFIX):
        stem = name_nbs[: -len(VILLAGE_SUFFIX)]
        return f"{stem}村", stem, Village.Kind.VILLAGE
    raise SourceError(f"{VILLAGES_FILE}: unexpected suffix in {name_nbs!r}")


def read_villages(path: Path, town_code: str) -> tuple[VillageSource, ...]:
    """Return the town's village-level units in code order."""
    units = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["town_code9"] != town_code:
                continue
            name, stem, kind = display_name(row["name_nbs"])
            units.append(VillageSource(
                code=row["code12"], name_nbs=row["name_nbs"], name=name, stem=stem, kind=kind,
                urban_rural_class=row["urban_rural_class_2016"],
            ))
    if not units:
        raise SourceError(f"{path}: no villages of town {town_code}")
    return tuple(sorted(units, key=lambda unit: unit.code))


def read_town_name(path: Path, town_code: str) -> str:
    """Return the name of the town with the 9-digit ``town_code``."""
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["code9"] == town_code:
                return row["name"]
    raise SourceError(f"{path}: town {town_code} not listed")


def read_seat(path: Path) -> Point:
    """Return the WGS84 (EPSG:4326) town seat point, the feature whose crs starts with WGS84."""
    data = json.loads(path.read_text(encoding="utf-8"))
    for feature in data["features"]:
        if str(feature["properties"].get("crs", "")).startswith("WGS84"):
            return shape(feature["geometry"])
    raise SourceError(f"{path}: no WGS84 seat point")


def read_district(path: Path) -> Polygon:
    """Return the district outline as an EPSG:4326 Polygon."""
    data = json.loads(path.read_text(encoding="utf-8"))
    geom = shape(data["features"][0]["geometry"])
    if geom.geom_type != "Polygon" or not geom.is_valid:
        raise SourceError(f"{path}: expected one valid Polygon, got {geom.geom_type}")
    return geom


def read_sources(source_dir: Path, town_code: str = TOWN_CODE) -> TownSource:
    """Read all inputs from ``source_dir`` (SourceError when a file is missing)."""
    source_dir = Path(source_dir)
    for name in (DISTRICT_FILE, VILLAGES_FILE, TOWNS_FILE, SEAT_FILE):
        if not (source_dir / name).is_file():
            raise SourceError(f"{source_dir / name}: missing")
    return TownSource(
        code=town_code,
        name=read_town_name(source_dir / TOWNS_FILE, town_code),
        seat_wgs84=read_seat(source_dir / SEAT_FILE),
        district_wgs84=read_district(source_dir / DISTRICT_FILE),
        villages=read_villages(source_dir / VILLAGES_FILE, town_code),
    )
