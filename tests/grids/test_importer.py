"""Import grids from files in any CRS: round trip through a Shapefile in EPSG:4549, refusals."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from django.core.management import CommandError, call_command
from shapely.geometry import LineString, Polygon, box

from gis_core.geometry import to_metric
from grids.models import BoundaryGeneration, Grid
from grids.validation import validate_generation
from tests.conftest import A1, A2, B1, D1

pytestmark = pytest.mark.django_db

TOWN = "999999100"


def _frame(square_town) -> gpd.GeoDataFrame:
    grids = list(Grid.objects.filter(generation=square_town).order_by("code"))
    return gpd.GeoDataFrame(
        {
            "code": [g.code for g in grids],
            "name": [f"grid {g.code[-3:]}" for g in grids],
            "kind": [g.kind for g in grids],
            "purpose": [g.purpose or None for g in grids],
        },
        geometry=[to_metric(shapely.from_wkb(bytes(g.boundary.wkb))) for g in grids],
        crs="EPSG:4549",
    )


def _shape(grid: Grid):
    return shapely.from_wkb(bytes(grid.boundary.wkb))


def _import(path, *extra):
    call_command("import_boundaries", str(path), "--town", TOWN, *extra, verbosity=0)


def test_shapefile_in_gauss_kruger_round_trips(square_town, tmp_path):
    path = tmp_path / "grids.shp"
    _frame(square_town).to_file(path)
    before = BoundaryGeneration.objects.count()
    _import(path, "--commit", "--description", "land bureau 2026")
    draft = BoundaryGeneration.objects.exclude(pk=square_town.pk).get(town__code=TOWN)
    assert BoundaryGeneration.objects.count() == before + 1
    assert draft.status == "draft" and draft.description == "land bureau 2026"
    imported = {g.code: g for g in draft.grids.all()}
    assert set(imported) == {A1, A2, B1, D1}
    for original in square_town.grids.all():
        copy = imported[original.code]
        assert copy.boundary.srid == 4326 and copy.boundary.geom_type == "MultiPolygon"
        assert shapely.hausdorff_distance(_shape(copy), _shape(original)) < 1e-7  # about 1 cm
        assert (copy.kind, copy.purpose, copy.village_id) == (original.kind, original.purpose, original.village_id)
    assert validate_generation(draft) == []


def test_dry_run_saves_nothing(square_town, tmp_path, capsys):
    path = tmp_path / "grids.gpkg"
    _frame(square_town).to_file(path, driver="GPKG")
    before = (BoundaryGeneration.objects.count(), Grid.objects.count())
    call_command("import_boundaries", str(path), "--town", TOWN)
    assert (BoundaryGeneration.objects.count(), Grid.objects.count()) == before
    assert "dry run: 4 grids" in capsys.readouterr().out


def test_self_intersecting_feature_is_repaired_and_reported(square_town, tmp_path, capsys):
    frame = _frame(square_town)
    x0, y0, x1, y1 = frame.geometry.iloc[0].bounds
    frame.loc[0, "geometry"] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # a bow tie
    path = tmp_path / "bowtie.geojson"
    frame.to_file(path, driver="GeoJSON")
    call_command("import_boundaries", str(path), "--town", TOWN, "--commit")
    out = capsys.readouterr().out
    assert f"feature 0 (code {A1})" in out and "repaired" in out
    grid = Grid.objects.exclude(generation=square_town).get(code=A1)
    assert grid.boundary.valid and grid.boundary.num_geom == 2


@pytest.mark.parametrize("mutate,message", [
    (lambda f: f.assign(geometry=[LineString([(0, 0), (1, 1)])] + list(f.geometry[1:])), "feature 0"),
    (lambda f: f.assign(code=["123"] + list(f.code[1:])), "code must be 15 digits"),
    (lambda f: f.assign(code=[A2] + list(f.code[1:])), f"code {A2} appears more than once"),
    (lambda f: f.assign(kind=["bogus"] + list(f.kind[1:])), "feature 0"),
    (lambda f: f.assign(code=["999999100077001"] + list(f.code[1:])), "no village"),
])
def test_bad_feature_refuses_the_whole_file(square_town, tmp_path, mutate, message):
    path = tmp_path / "bad.gpkg"
    mutate(_frame(square_town)).to_file(path, driver="GPKG")
    before = (BoundaryGeneration.objects.count(), Grid.objects.count())
    with pytest.raises(CommandError, match=message):
        _import(path, "--commit")
    assert (BoundaryGeneration.objects.count(), Grid.objects.count()) == before


def test_empty_and_missing_files_are_refused(square_town, tmp_path):
    empty = tmp_path / "empty.gpkg"
    _frame(square_town).iloc[0:0].to_file(empty, driver="GPKG")
    with pytest.raises(CommandError, match="no features"):
        _import(empty, "--commit")
    with pytest.raises(CommandError, match="cannot open"):
        _import(tmp_path / "nope.shp", "--commit")


def test_unknown_town_is_refused(square_town, tmp_path):
    path = tmp_path / "grids.gpkg"
    _frame(square_town).to_file(path, driver="GPKG")
    with pytest.raises(CommandError, match="no town"):
        call_command("import_boundaries", str(path), "--town", "111111111", "--commit")


def test_validation_reports_overlap_and_gap(square_town, tmp_path):
    frame = _frame(square_town)
    a1 = frame.geometry.iloc[0]
    frame.loc[0, "geometry"] = box(*a1.bounds).buffer(-20).union(box(a1.bounds[0], a1.bounds[1],
                                                                    a1.bounds[2] + 50, a1.bounds[1] + 100))
    path = tmp_path / "shifted.gpkg"
    frame.to_file(path, driver="GPKG")
    _import(path, "--commit")
    draft = BoundaryGeneration.objects.exclude(pk=square_town.pk).get(town__code=TOWN)
    problems = validate_generation(draft)
    assert any(f"grids {A1} and {A2} overlap" in p for p in problems)
    assert any("village 999999100001" in p and "not covered" in p for p in problems)
    with pytest.raises(CommandError, match="partition is invalid"):
        call_command("activate_generation", str(draft.pk), "--commit")
