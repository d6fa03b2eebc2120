"""Generate the illustrative Gongdao demo data set: ``generate(source_dir, out_dir, seed)``.

Writes town.geojson, villages.geojson, grids.geojson, cameras.geojson (EPSG:4326, RFC 7946),
people.csv, team_members.csv and village_leaders.csv. The output depends only on the source files
and the seed: running twice gives byte-identical files.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import Point, Polygon

from cameras.models import Camera as CameraModel
from demo.dataset import cameras as cam
from demo.dataset import checks
from demo.dataset import geometry as geo
from demo.dataset import people as ppl
from demo.dataset.dedicated import DedicatedGrid, check_disjoint, draw_dedicated
from demo.dataset.output import feature, write_csv, write_feature_collection
from demo.dataset.partition import Partition, build_partition, plan_partition
from demo.dataset.sources import TownSource, read_sources
from gis_core.geometry import to_metric
from grids.models import Grid, Village
from grids.models import Person as Staff

DEFAULT_SEED = 20200501
COMPREHENSIVE_GRIDS = 45
STAGES = {"partition": 0, "dedicated": 1, "cameras": 2, "people": 3}


@dataclass
class GridRecord:
    """One grid as written: code, name, kind, purpose, village index and EPSG:4326 polygon."""

    code: str
    name: str
    kind: str
    purpose: str | None
    village: int
    polygon: Polygon


def _rng(seed: int, stage: str) -> np.random.Generator:
    return np.random.default_rng([seed, STAGES[stage]])


def comprehensive_records(source: TownSource, part: Partition) -> list[GridRecord]:
    """Return the comprehensive grids numbered north to south, west to east inside each village."""
    records = []
    for index, unit in enumerate(source.villages):
        grids = [g for g, v in zip(part.grids, part.grid_village, strict=True) if v == index]
        numbers = checks.sequence_numbers(grids, part.villages[index])
        for grid, number in zip(grids, numbers, strict=True):
            code = f"{source.code}{unit.segment}{number:03d}"
            records.append(GridRecord(code, f"{unit.name}第{number}网格", Grid.Kind.COMPREHENSIVE, None, index, grid))
    return sorted(records, key=lambda r: r.code)


def dedicated_records(source: TownSource, placed: list[DedicatedGrid]) -> list[GridRecord]:
    """Return the dedicated grids, coded with their village segment and sequence 901.."""
    return [
        GridRecord(f"{source.code}{source.villages[d.village_index].segment}{d.spec.sequence:03d}",
                   f"{d.spec.place}专属网格", Grid.Kind.DEDICATED, d.spec.purpose, d.village_index, _built(d))
        for d in placed
    ]


def _built(grid: DedicatedGrid) -> Polygon:
    if grid.polygon is None:
        raise ValueError(f"dedicated grid {grid.spec.place} was not built")
    return grid.polygon


def _neighbours(shapes_m: list[Polygon], allowed: list[list[int]]) -> list[int]:
    """Return, for each shape, the allowed other shape sharing most border (lowest index on ties)."""
    result = []
    for i, shape in enumerate(shapes_m):
        options = [j for j in allowed[i] if j != i]
        result.append(max(options, key=lambda j: (geo.shared_length(shape, shapes_m[j]), -j)))
    return result


def grid_layout(records: list[GridRecord], villages: list[Polygon]) -> ppl.GridLayout:
    """Return the comprehensive grids (code order) with same-village and village neighbours."""
    grids_m = [to_metric(r.polygon) for r in records]
    same = [[j for j, o in enumerate(records) if o.village == r.village] for r in records]
    villages_m = [to_metric(v) for v in villages]
    everyone = [list(range(len(villages)))] * len(villages)
    return ppl.GridLayout(
        codes=[r.code for r in records], village=[r.village for r in records],
        grid_neighbour=_neighbours(grids_m, same), village_neighbour=_neighbours(villages_m, everyone),
    )


def team_table(records: list[GridRecord], dedicated: list[GridRecord], layout: ppl.GridLayout,
               people: dict[str, list[ppl.Person]], seed: int) -> list[ppl.TeamRow]:
    """Return all team rows: comprehensive teams, then dedicated teams copied from their host grid."""
    pairs = ppl.holders(layout, people)
    away = ppl.off_duty(pairs, _rng(seed, "people"))
    rows = []
    for index, code in enumerate(layout.codes):
        rows += ppl.team_rows(code, index, pairs, away)
    for grid in dedicated:
        host = max((i for i, r in enumerate(records) if r.village == grid.village),
                   key=lambda i: (records[i].polygon.intersection(grid.polygon).area, -i))
        rows += [ppl.TeamRow(grid.code, *row_fields(row)) for row in ppl.team_rows(
            layout.codes[host], host, pairs, away)]
    return rows


def row_fields(row: ppl.TeamRow) -> tuple[str, str, str, str, bool]:
    """Return the fields of a team row after its grid code."""
    return row.person_id, row.team_role, row.role, row.slot, row.on_duty


def place_cameras(source: TownSource, part: Partition, placed: list[DedicatedGrid], seed: int) -> list[cam.Camera]:
    """Return the 21 cameras: town centre, dedicated places, then village-office crossings."""
    seat_m: Point = to_metric(source.seat_wgs84)
    spots = cam.centre_spots(seat_m) + cam.dedicated_spots(placed, seat_m)
    taken = {d.village_index for d in placed}
    villages_m = [to_metric(v) for v in part.villages]
    names = [unit.stem for unit in source.villages]
    kinds_ok = {i for i, unit in enumerate(source.villages) if unit.kind == Village.Kind.COMMUNITY}
    spots += cam.crossing_spots(villages_m, names, taken | kinds_ok, seat_m, cam.CAMERA_COUNT - len(spots))
    return cam.build_cameras(spots, part.town, _rng(seed, "cameras"))


def build_geometry(source: TownSource, seed: int) -> tuple[Partition, list[DedicatedGrid]]:
    """Return the partition (EPSG:4326) and the dedicated grids built from the same noded faces."""
    plan = plan_partition(source, _rng(seed, "partition"), COMPREHENSIVE_GRIDS)
    stems = [(unit.stem, unit.kind) for unit in source.villages]
    placed = draw_dedicated(plan.villages_m, stems, plan.seat_m, _rng(seed, "dedicated"))
    part = build_partition(plan, [(d.shape_m, d.village_index) for d in placed])
    for grid, polygon in zip(placed, part.overlays, strict=True):
        grid.polygon = polygon
    check_disjoint(placed)
    return part, placed


def verify(source: TownSource, part: Partition) -> dict[str, float]:
    """Check the village and grid partitions (ValueError if broken); return the town-level measures."""
    town_check = checks.check_cover(part.town, part.villages, "villages of the town")
    for index, village in enumerate(part.villages):
        grids = [g for g, v in zip(part.grids, part.grid_village, strict=True) if v == index]
        checks.check_cover(village, grids, f"grids of {source.villages[index].code}")
    return town_check


def generate(source_dir: Path, out_dir: Path, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Generate the data set from ``source_dir`` into ``out_dir`` and return a summary dict."""
    source = read_sources(Path(source_dir))
    part, placed = build_geometry(source, seed)
    town_check = verify(source, part)
    records = comprehensive_records(source, part)
    dedicated = dedicated_records(source, placed)
    cameras = place_cameras(source, part, placed, seed)
    people = ppl.make_people(_rng(seed, "people"))
    layout = grid_layout(records, part.villages)
    teams = team_table(records, dedicated, layout, people, seed)
    leaders = ppl.village_leaders([u.stem for u in source.villages], people[Staff.Role.TOWN_LEADER])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_geojson(out, source, part, records + dedicated, cameras)
    _write_tables(out, source, people, teams, leaders)
    return _summary(source, part, town_check, records, dedicated, cameras, people, teams, out)


def _write_geojson(out: Path, source: TownSource, part: Partition, grids: list[GridRecord],
                   cameras: list[cam.Camera]) -> None:
    seat = source.seat_wgs84
    town_props = {"code": source.code, "name": source.name, "county_code": source.code[:6],
                  "area_km2": round(to_metric(part.town).area / 1e6, 3),
                  "seat_lon": seat.x, "seat_lat": seat.y, "illustrative": True}
    write_feature_collection(out / "town.geojson", "gongdao_town", [feature(town_props, part.town)])
    villages = [
        feature({"code": u.code, "name": u.name, "name_nbs": u.name_nbs, "kind": u.kind, "town_code": source.code,
                 "area_km2": round(to_metric(v).area / 1e6, 3)}, v)
        for u, v in zip(source.villages, part.villages, strict=True)
    ]
    write_feature_collection(out / "villages.geojson", "gongdao_villages", villages)
    grid_features = [
        feature({"code": g.code, "name": g.name, "kind": g.kind, "purpose": g.purpose,
                 "village_code": source.villages[g.village].code}, g.polygon)
        for g in sorted(grids, key=lambda g: g.code)
    ]
    write_feature_collection(out / "grids.geojson", "gongdao_grids", grid_features)
    camera_features = [
        feature({"code": c.code, "name": c.name, "bearing_deg": c.bearing_deg, "fov_deg": c.fov_deg,
                 "range_m": c.range_m, "status": c.status}, c.point)
        for c in cameras
    ]
    write_feature_collection(out / "cameras.geojson", "gongdao_cameras", camera_features)


def _write_tables(out: Path, source: TownSource, people: dict[str, list[ppl.Person]],
                  teams: list[ppl.TeamRow], leaders: list[str]) -> None:
    everyone = sorted((p for group in people.values() for p in group), key=lambda p: p.person_id)
    write_csv(out / "people.csv", ("person_id", "name", "phone", "role"), (vars(p) for p in everyone))
    columns = ("grid_code", "person_id", "team_role", "role", "slot", "on_duty")
    write_csv(out / "team_members.csv", columns, (vars(row) for row in teams))
    write_csv(out / "village_leaders.csv", ("village_code", "person_id"),
              ({"village_code": u.code, "person_id": pid} for u, pid in zip(source.villages, leaders, strict=True)))


def _summary(source: TownSource, part: Partition, town_check: dict[str, float], records: list[GridRecord],
             dedicated: list[GridRecord], cameras: list[cam.Camera], people: dict[str, list[ppl.Person]],
             teams: list[ppl.TeamRow], out: Path) -> dict[str, Any]:
    per_village = {u.code: sum(1 for r in records if r.village == i) for i, u in enumerate(source.villages)}
    margins = [
        checks.band_margin_m([r.polygon for r in records if r.village == i], part.villages[i])
        for i in range(len(source.villages))
    ]
    return {
        "town": {"code": source.code, "name": source.name, "area_km2": round(town_check["area_m2"] / 1e6, 4),
                 "clip_northing_m": part.outline.northing_m, "clip_parts": part.outline.parts,
                 "discarded_km2": round(part.outline.discarded_km2, 4)},
        "villages": {u.code: {"name": u.name, "kind": u.kind, "grids": per_village[u.code],
                              "area_km2": round(to_metric(v).area / 1e6, 3)}
                     for u, v in zip(source.villages, part.villages, strict=True)},
        "grids": {"comprehensive": len(records), "dedicated": len(dedicated),
                  "dedicated_purposes": [g.purpose for g in dedicated]},
        "partition": {"village_area_gap_m2": town_check["area_gap_m2"], "max_overlap_m2": town_check["max_overlap_m2"],
                      "numbering_band_margin_m": round(min(margins), 3) if math.isfinite(min(margins)) else None},
        "cameras": {"total": len(cameras),
                    "offline": sum(1 for c in cameras if c.status == CameraModel.Status.OFFLINE)},
        "people": {role: len(group) for role, group in people.items()},
        "team_rows": len(teams),
        "out_dir": str(out),
    }
