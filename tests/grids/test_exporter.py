"""Exporting a generation's grids: the file goes back in through the importer as it was (GeoPackage in
EPSG:4326 exactly; GeoJSON in EPSG:4549 to the nanodegree), the command refuses bad requests without
writing a file, and the download is the planners' alone."""
from __future__ import annotations

import io
import json

import pytest
import shapely
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from grids.exporter import BoundaryExportError, export_grids
from grids.importer import import_grids
from grids.models import BoundaryGeneration, Grid
from grids.validation import validate_generation
from tests.incidents import factories as f

pytestmark = pytest.mark.django_db
GONGDAO = "321003100"


def _active() -> BoundaryGeneration:
    return BoundaryGeneration.objects.get(town__code=GONGDAO, status="active")


def _grids(generation_id: int) -> dict[str, tuple]:
    return {g.code: (g.name, g.kind, g.purpose, g.village.code, shapely.from_wkb(bytes(g.boundary.wkb)))
            for g in Grid.objects.filter(generation_id=generation_id).select_related("village")}


def test_a_geopackage_goes_back_in_exactly(tmp_path):
    out = tmp_path / "grids.gpkg"
    assert export_grids(_active(), out) == 53
    report = import_grids(out, town_code=GONGDAO, commit=True)
    assert report.features == 53 and report.source_srid == 4326 and report.repaired == []
    before, after = _grids(_active().pk), _grids(report.generation_id)
    assert before.keys() == after.keys()
    for code, (*attrs, shape) in before.items():
        assert after[code][:4] == tuple(attrs)
        assert shapely.equals_exact(after[code][4], shape, tolerance=0), code
    assert validate_generation(BoundaryGeneration.objects.get(pk=report.generation_id)) == []


def test_geojson_in_a_metric_crs_goes_back_in_to_the_nanodegree_and_still_partitions(tmp_path):
    out = tmp_path / "grids.geojson"
    export_grids(_active(), out, fmt="geojson", srid=4549)
    data = json.loads(out.read_text())
    assert "4549" in json.dumps(data["crs"])  # the file says its CRS
    x, y = data["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 300_000 < x < 700_000 and 3_000_000 < y < 4_000_000  # metres, not degrees
    report = import_grids(out, town_code=GONGDAO, commit=True)
    assert report.source_srid == 4549
    before, after = _grids(_active().pk), _grids(report.generation_id)
    for code, (*_, shape) in before.items():
        assert shapely.equals_exact(after[code][4], shape, tolerance=1e-9), code
    assert validate_generation(BoundaryGeneration.objects.get(pk=report.generation_id)) == []


def test_the_command(tmp_path):
    out = io.StringIO()
    call_command("export_boundaries", str(tmp_path / "a.gpkg"), "--town", GONGDAO, stdout=out)
    assert "exported 53 grids" in out.getvalue() and (tmp_path / "a.gpkg").exists()
    call_command("export_boundaries", str(tmp_path / "b.geojson"), "--generation", str(_active().pk),
                 "--format", "geojson", "--srid", "4549", stdout=io.StringIO())
    assert len(json.loads((tmp_path / "b.geojson").read_text())["features"]) == 53

    for args, message in [
        (["--generation", "999999"], "no generation 999999"),
        (["--town", "999999999"], "no active generation"),
        (["--town", GONGDAO, "--srid", "999999"], "unknown CRS EPSG:999999"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("export_boundaries", str(tmp_path / "c.gpkg"), *args)
    with pytest.raises(CommandError, match="nothing exported"):
        call_command("export_boundaries", str(tmp_path / "missing" / "d.gpkg"), "--town", GONGDAO)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gpkg", "b.geojson"]  # nothing half-written


def test_an_empty_generation_is_refused(tmp_path):
    empty = BoundaryGeneration.objects.create(town=_active().town)
    with pytest.raises(BoundaryExportError, match="no grids"):
        export_grids(empty, tmp_path / "e.gpkg")
    assert list(tmp_path.iterdir()) == []


def test_the_download_is_for_planners(tmp_path):
    url = f"/api/generations/{_active().pk}/export/"
    answer = f.api_client("planner").get(url, {"filetype": "geojson", "srid": 4490})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/geo+json"
    assert answer["Content-Disposition"] == f'attachment; filename="{GONGDAO}-generation-{_active().pk}-active.geojson"'
    assert len(json.loads(answer.content)["features"]) == 53
    gpkg = f.api_client("planner").get(url)
    assert gpkg.status_code == 200 and gpkg.content[:16] == b"SQLite format 3\x00"
    (tmp_path / "dl.gpkg").write_bytes(gpkg.content)
    assert import_grids(tmp_path / "dl.gpkg", town_code=GONGDAO).features == 53  # a dry run

    bad = f.api_client("planner").get(url, {"filetype": "shp", "srid": 999999})
    assert bad.status_code == 400 and set(bad.json()) == {"filetype", "srid"}
    assert f.api_client("planner").get("/api/generations/999999/export/").status_code == 404
    for client in (APIClient(), f.api_client("operator"), f.api_client("town_leader"), f.api_client("grid_leader")):
        assert client.get(url).status_code in (401, 403)
