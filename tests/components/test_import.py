"""import_components: GeoPackage, Shapefile and CSV files written here in EPSG:4549 (CGCS2000 / 3-degree
Gauss-Kruger CM 120E), each with a bad row; the points land within 1 m of where they were surveyed, are
filed under their grids, and a second import changes nothing."""
from __future__ import annotations

import csv
from io import StringIO

import geopandas as gpd
import pytest
import shapely
from django.core.management import CommandError, call_command
from pyproj import Geod, Transformer

from components.models import Component
from components.services import component_types_load
from tests.conftest import A1, B1

pytestmark = pytest.mark.django_db

TO_GK = Transformer.from_crs("EPSG:4326", "EPSG:4549", always_xy=True)
GEOD = Geod(ellps="WGS84")
# (code, lon, lat, state): in grid A1, in grid B1, outside every town
POINTS = [("9999990101000001", 120.005, 31.005, "完好"), ("9999990101000002", 120.025, 31.005, "damaged"),
          ("9999990101000003", 120.05, 31.005, "丢失")]
BAD = ("99999901010000", 120.006, 31.006, "完好")  # 14 digits


def metric_rows(rows):
    return [(code, *TO_GK.transform(lon, lat), state) for code, lon, lat, state in rows]


def write_gis(path, driver: str, fields=("code", "type_code", "state", "owner_dept")):
    rows = metric_rows([*POINTS, BAD])
    frame = gpd.GeoDataFrame(
        {fields[0]: [r[0] for r in rows], fields[1]: ["0101"] * len(rows), fields[2]: [r[3] for r in rows],
         fields[3]: ["邗江区水务局"] * len(rows)},
        geometry=[shapely.Point(r[1], r[2]) for r in rows], crs="EPSG:4549")
    frame.to_file(path, driver=driver, engine="pyogrio")
    return path


def write_csv(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["code", "type_code", "state", "x", "y"])
        for code, x, y, state in metric_rows(rows):
            out.writerow([code, "0101", state, f"{x:.3f}", f"{y:.3f}"])
    return path


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_components", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def assert_imported():
    found = {c.code: c for c in Component.objects.select_related("grid", "village", "town", "type")}
    for code, lon, lat, _ in POINTS:
        c = found[code]
        assert c.location.srid == 4326
        assert GEOD.inv(lon, lat, c.location.x, c.location.y)[2] < 1.0  # metres
        assert c.type.name == "上水井盖" and c.owner_dept in ("邗江区水务局", "")
    assert found[POINTS[0][0]].grid.code == A1 and found[POINTS[0][0]].village.code == A1[:12]
    assert found[POINTS[0][0]].town.code == A1[:9]
    assert found[POINTS[1][0]].grid.code == B1 and found[POINTS[1][0]].state == "damaged"
    assert found[POINTS[2][0]].grid is None and found[POINTS[2][0]].state == "missing"
    assert BAD[0] not in found


@pytest.fixture
def types():
    component_types_load()


@pytest.mark.parametrize("driver,name", [("GPKG", "parts.gpkg"), ("ESRI Shapefile", "parts.shp")])
def test_a_gis_file_in_gauss_kruger_is_imported_to_wgs84_and_filed_under_its_grids(square_town, types, tmp_path,
                                                                                   driver, name):
    path = write_gis(tmp_path / name, driver)
    out, err = run(path)
    assert "3 created, 0 updated, 0 unchanged, 1 bad; 1 outside every grid" in out
    assert "from EPSG:4549" in out
    assert_imported()
    errors = list(csv.reader((tmp_path / f"{name}.errors.csv").open(encoding="utf-8-sig")))
    assert errors[0] == ["row", "code", "error"]
    assert errors[1][:2] == ["4", BAD[0]] and "16 digits" in errors[1][2]
    assert "row 4 (99999901010000)" in err

    out, _ = run(path)  # again: nothing changes, nothing is duplicated
    assert "0 created, 0 updated, 3 unchanged, 1 bad" in out
    assert Component.objects.filter(code__startswith="999999").count() == 3


def test_field_names_and_the_layer_are_options(square_town, types, tmp_path):
    path = write_gis(tmp_path / "bj.gpkg", "GPKG", fields=("BJBM", "BJLX", "ZT", "QSDW"))
    out, _ = run(path, "--layer", "bj", "--code-field", "BJBM", "--type-field", "BJLX", "--state-field", "ZT",
                 "--owner-field", "QSDW", "--errors", tmp_path / "bad.csv")
    assert "3 created" in out and (tmp_path / "bad.csv").exists()
    assert_imported()


def test_a_csv_takes_its_points_from_x_and_y_in_the_crs_given(square_town, types, tmp_path):
    path = write_csv(tmp_path / "parts.csv", [*POINTS, BAD])
    with pytest.raises(CommandError, match="declares no CRS; pass --srid"):
        run(path)
    out, _ = run(path, "--srid", "4549")
    assert "3 created, 0 updated, 0 unchanged, 1 bad" in out
    assert_imported()


def test_a_changed_row_updates_its_component(square_town, types, tmp_path):
    run(write_csv(tmp_path / "a.csv", POINTS), "--srid", "4549")
    moved = [(POINTS[0][0], 120.015, 31.005, "占用"), *POINTS[1:]]  # into A2, now occupied
    out, _ = run(write_csv(tmp_path / "b.csv", moved), "--srid", "4549")
    assert "0 created, 1 updated, 2 unchanged, 0 bad" in out
    c = Component.objects.select_related("grid").get(code=POINTS[0][0])
    assert c.state == "occupied" and c.grid.code.endswith("001002")


@pytest.mark.parametrize("row,message", [
    (("9999990101000009", 120.0, 31.0, "broken"), "state 'broken' is none of"),
    (("9999990199000009", 120.0, 31.0, "完好"), "does not match the code's type digits 0199"),
    (("99999901010000AB", 120.0, 31.0, "完好"), "16 digits"),
])
def test_nothing_valid_is_a_failure_with_the_reasons(square_town, types, tmp_path, row, message):
    errors = tmp_path / "e.csv"
    with pytest.raises(CommandError, match="nothing imported: none of the 1 rows"):
        run(write_csv(tmp_path / "bad.csv", [row]), "--srid", "4549", "--errors", errors)
    assert message in errors.read_text(encoding="utf-8-sig")


def test_an_unknown_type_and_a_repeated_code_are_bad_rows(square_town, types, tmp_path):
    rows = [POINTS[0], POINTS[0]]
    path = tmp_path / "t.csv"
    write_csv(path, rows)
    text = path.read_text(encoding="utf-8-sig").replace("0101,", "0102,", 1).replace("9999990101", "9999990102", 1)
    path.write_text(text, encoding="utf-8")
    out, _ = run(path, "--srid", "4549")
    bad = (tmp_path / "t.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "unknown component type 0102" in bad and "1 created" in out


def test_progress_is_told_and_a_repeated_code_is_a_bad_row(square_town, types, tmp_path, monkeypatch):
    monkeypatch.setattr("components.importer.PROGRESS_EVERY", 2)
    out, _ = run(write_csv(tmp_path / "r.csv", [*POINTS, POINTS[0]]), "--srid", "4549")
    assert "read 2 rows ..." in out and "read 4 rows ..." in out
    assert "3 created, 0 updated, 0 unchanged, 1 bad" in out
    assert "appears again (first in row 1)" in (tmp_path / "r.csv.errors.csv").read_text(encoding="utf-8-sig")
