"""Check the committed Gongdao demo data set (data/boundaries/gongdao/) without a database.

Geometry is read as stored (EPSG:4326) and measured in EPSG:4549 metres with pyproj.
Run: .venv/bin/python -m pytest tests/demo/test_dataset.py -p no:django -q
"""
from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from demo.dataset.generator import DEFAULT_SEED, generate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "boundaries" / "gongdao"
SOURCE = DATA / "source"
FILES = ("town.geojson", "villages.geojson", "grids.geojson", "cameras.geojson",
         "people.csv", "team_members.csv", "village_leaders.csv")
SEAT_WGS84 = Point(119.343908, 32.588310)
TOWN_CODE = "321003100"
MEMBER_ROLES = ("grid_worker", "police", "enforcement", "cadre")
PURPOSES = {"industrial_park", "school", "market", "river", "hospital", "scenic_area",
            "construction_site", "transport_hub"}
AREA_TOL_M2 = 1.0
OVERLAP_TOL_M2 = 1e-6
_TO_METRIC = Transformer.from_crs(4326, 4549, always_xy=True)


def metric(geom: BaseGeometry) -> BaseGeometry:
    """Return an EPSG:4326 geometry in EPSG:4549 metres."""
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_METRIC.transform(xy[:, 0], xy[:, 1])))


@cache
def collection(name: str) -> dict:
    """Return a committed GeoJSON file as a dict."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def features(name: str) -> list[tuple[dict, BaseGeometry]]:
    """Return (properties, EPSG:4326 geometry) pairs of a committed GeoJSON file."""
    return [(f["properties"], shape(f["geometry"])) for f in collection(name)["features"]]


@cache
def rows(name: str) -> tuple[dict, ...]:
    """Return the rows of a committed CSV file."""
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))


def town() -> BaseGeometry:
    return features("town.geojson")[0][1]


def villages() -> dict[str, tuple[dict, BaseGeometry]]:
    return {p["code"]: (p, g) for p, g in features("villages.geojson")}


def grids(kind: str) -> list[tuple[dict, BaseGeometry]]:
    return [(p, g) for p, g in features("grids.geojson") if p["kind"] == kind]


def assert_partition(whole: BaseGeometry, parts: list[BaseGeometry]) -> None:
    """Assert that EPSG:4326 ``parts`` partition ``whole`` exactly (areas in EPSG:4549)."""
    assert whole.is_valid and all(p.is_valid for p in parts)
    whole_m, parts_m = metric(whole), [metric(p) for p in parts]
    assert sum(p.area for p in parts_m) == pytest.approx(whole_m.area, abs=AREA_TOL_M2)
    for i, first in enumerate(parts_m):
        for second in parts_m[i + 1:]:
            assert first.intersection(second).area <= OVERLAP_TOL_M2
    assert metric(shapely.union_all(parts).symmetric_difference(whole)).area <= AREA_TOL_M2


def test_files_are_rfc7946_feature_collections() -> None:
    for name in FILES[:4]:
        data = collection(name)
        assert data["type"] == "FeatureCollection" and data["name"] and "crs" not in data
        for feat in data["features"]:
            geom = shape(feat["geometry"])
            assert geom.geom_type in {"Polygon", "Point"}
            if geom.geom_type == "Polygon":
                assert geom.exterior.is_ccw and not geom.interiors


def test_counts() -> None:
    assert len(features("town.geojson")) == 1
    assert len(villages()) == 14
    assert sum(1 for p, _ in villages().values() if p["kind"] == "community") == 3
    assert len(grids("comprehensive")) == 45 and len(grids("dedicated")) == 8
    assert len(features("cameras.geojson")) == 21
    roles = Counter(r["role"] for r in rows("people.csv"))
    assert roles == {"grid_worker": 45, "cadre": 45, "police": 34, "enforcement": 14, "town_leader": 13}


def test_town_area_and_seat() -> None:
    props, geom = features("town.geojson")[0]
    assert (props["code"], props["name"]) == (TOWN_CODE, "公道镇")
    assert metric(geom).area / 1e6 == pytest.approx(106.6, abs=0.5)
    assert geom.contains(SEAT_WGS84)


def test_villages_partition_the_town() -> None:
    assert_partition(town(), [g for _, g in villages().values()])


def test_village_names_and_kinds() -> None:
    for code, (props, _) in villages().items():
        assert re.fullmatch(r"321003100\d{3}", code)
        suffix = {"community": ("居委会", "社区"), "village": ("村委会", "村")}[props["kind"]]
        assert props["name_nbs"].endswith(suffix[0]) and props["name"].endswith(suffix[1])
        assert props["name_nbs"][: -len(suffix[0])] == props["name"][: -len(suffix[1])]


def test_comprehensive_grids_partition_each_village() -> None:
    by_village = defaultdict(list)
    for props, geom in grids("comprehensive"):
        by_village[props["village_code"]].append(geom)
    for code, (props, geom) in villages().items():
        assert len(by_village[code]) in ((2, 3) if props["kind"] == "community" else range(2, 46))
        assert_partition(geom, by_village[code])


def test_each_grid_lies_in_exactly_one_village() -> None:
    village_m = {code: metric(g) for code, (_, g) in villages().items()}
    for props, geom in grids("comprehensive"):
        grid_m = metric(geom)
        holders = [code for code, v in village_m.items() if v.intersection(grid_m).area > OVERLAP_TOL_M2]
        assert holders == [props["village_code"]]
        assert grid_m.difference(village_m[props["village_code"]]).area <= OVERLAP_TOL_M2


def test_codes_are_unique_and_well_formed() -> None:
    codes = [p["code"] for p, _ in features("grids.geojson")]
    assert len(set(codes)) == len(codes)
    for props, _ in features("grids.geojson"):
        code = props["code"]
        assert re.fullmatch(r"\d{15}", code) and code.startswith(TOWN_CODE)
        assert code[9:12] == props["village_code"][-3:] and props["village_code"] in villages()
    per_village = defaultdict(list)
    for props, _ in grids("comprehensive"):
        per_village[props["village_code"]].append(int(props["code"][12:]))
        assert props["purpose"] is None
        assert props["name"] == f"{villages()[props['village_code']][0]['name']}第{int(props['code'][12:])}网格"
    for numbers in per_village.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
    assert sorted(int(p["code"][12:]) for p, _ in grids("dedicated")) == list(range(901, 909))


def test_numbering_north_to_south_then_west_to_east() -> None:
    per_village = defaultdict(list)
    for props, geom in grids("comprehensive"):
        per_village[props["village_code"]].append((int(props["code"][12:]), metric(geom).centroid))
    for code, members in per_village.items():
        _, miny, _, maxy = metric(villages()[code][1]).bounds
        rows_count = max(1, round(math.sqrt(len(members))))
        band = (maxy - miny) / rows_count
        keys = [(min(math.floor((maxy - c.y) / band), rows_count - 1), c.x) for _, c in members]
        expected = [number for _, number in sorted(zip(keys, [n for n, _ in members], strict=True))]
        assert expected == list(range(1, len(members) + 1)), code


def test_dedicated_grids_inside_their_village() -> None:
    purposes = Counter()
    for props, geom in grids("dedicated"):
        assert props["purpose"] in PURPOSES and geom.is_valid and geom.geom_type == "Polygon"
        purposes[props["purpose"]] += 1
        village = metric(villages()[props["village_code"]][1])
        assert metric(geom).difference(village).area <= 1e-3
    assert purposes["school"] == 2 and purposes["river"] == 2 and purposes["industrial_park"] == 1


def test_cameras_inside_the_town() -> None:
    outline = town()
    codes = []
    for props, geom in features("cameras.geojson"):
        codes.append(props["code"])
        assert re.fullmatch(r"GDC\d{3}", props["code"]) and props["name"]
        assert geom.geom_type == "Point" and outline.contains(geom)
        assert 0 <= props["bearing_deg"] < 360 and 60 <= props["fov_deg"] <= 110 and 80 <= props["range_m"] <= 300
        assert props["status"] in {"online", "offline"}
    assert len(set(codes)) == 21
    assert 1 <= sum(p["status"] == "offline" for p, _ in features("cameras.geojson")) <= 2


def test_every_grid_has_a_leader_and_ab_holders() -> None:
    roles = {r["person_id"]: r["role"] for r in rows("people.csv")}
    team = defaultdict(list)
    for row in rows("team_members.csv"):
        assert roles[row["person_id"]] == row["role"] and row["on_duty"] in {"true", "false"}
        team[row["grid_code"]].append(row)
    assert set(team) == {p["code"] for p, _ in features("grids.geojson")}
    for code, members in team.items():
        leaders = [r for r in members if r["team_role"] == "leader"]
        assert len(leaders) == 1 and leaders[0]["role"] == "cadre" and leaders[0]["on_duty"] == "true"
        posts = {(r["role"], r["slot"]): r for r in members if r["team_role"] == "member"}
        assert len(posts) == len(members) - 1 == 2 * len(MEMBER_ROLES)
        assert posts[("cadre", "A")]["person_id"] == leaders[0]["person_id"]
        for role in MEMBER_ROLES:
            holder, backup = posts[(role, "A")], posts[(role, "B")]
            assert holder["person_id"] != backup["person_id"], (code, role)
            assert "true" in {holder["on_duty"], backup["on_duty"]}, (code, role)


def test_village_leaders() -> None:
    links = rows("village_leaders.csv")
    roles = {r["person_id"]: r["role"] for r in rows("people.csv")}
    assert sorted(r["village_code"] for r in links) == sorted(villages())
    assert {roles[r["person_id"]] for r in links} == {"town_leader"}
    assert len({r["person_id"] for r in links}) == 13


def test_people_ids_and_phones() -> None:
    people = rows("people.csv")
    assert [r["person_id"] for r in people] == [f"P{i:04d}" for i in range(1, len(people) + 1)]
    assert all(re.fullmatch(r"1099\d{7}", r["phone"]) for r in people)
    assert len({r["name"] for r in people}) == len(people)


def test_generator_is_deterministic(tmp_path: Path) -> None:
    generate(SOURCE, tmp_path, DEFAULT_SEED)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
